#!/usr/bin/env cwl-runner
# Step 2: summary statistics of the GC table (image built by build_images.py from pipeline/gc-summary.sh).
# @SUMMARY_IMAGE@ is replaced by the image's pull-by-digest reference (render.py).
cwlVersion: v1.2
class: CommandLineTool
label: Summary statistics of a GC table
requirements:
  DockerRequirement:
    dockerPull: "@SUMMARY_IMAGE@"
baseCommand: [gc-summary.sh]
inputs:
  min_gc:
    type: string
    inputBinding: {position: 1, prefix: --min-gc}
  gc_table:
    type: File
    inputBinding: {position: 2}
stdout: summary.tsv
outputs:
  summary:
    type: stdout
