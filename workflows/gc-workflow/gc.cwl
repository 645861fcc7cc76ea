#!/usr/bin/env cwl-runner
# Step 1: GC fraction and k-mer counts (image built by ../gc-content/build_image.py).
# @GC_IMAGE@ is replaced by the image's pull-by-digest reference (render.py).
cwlVersion: v1.2
class: CommandLineTool
label: GC fraction and k-mer counts per sequence
requirements:
  DockerRequirement:
    dockerPull: "@GC_IMAGE@"
baseCommand: [gc-content.sh]
arguments:
  - {position: 4, valueFrom: $(runtime.outdir)}
inputs:
  k:
    type: int
    inputBinding: {position: 1, prefix: --k}
  min_length:
    type: int
    inputBinding: {position: 2, prefix: --min-length}
  reads:
    type: Directory
    inputBinding: {position: 3}
outputs:
  gc_table:
    type: File
    outputBinding: {glob: gc.tsv}
  kmers:
    type: File
    outputBinding: {glob: kmers.tsv}
