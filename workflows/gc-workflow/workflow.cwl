#!/usr/bin/env cwl-runner
# GC content, then summary statistics: two steps in two images, each pinned by digest.
cwlVersion: v1.2
class: Workflow
label: GC content and summary statistics of FASTA files
inputs:
  reads: Directory
  k: int
  min_length: int
  min_gc: string
outputs:
  gc_table:
    type: File
    outputSource: gc/gc_table
  kmers:
    type: File
    outputSource: gc/kmers
  summary:
    type: File
    outputSource: stats/summary
steps:
  gc:
    run: gc.cwl
    in:
      reads: reads
      k: k
      min_length: min_length
    out: [gc_table, kmers]
  stats:
    run: summary.cwl
    in:
      gc_table: gc/gc_table
      min_gc: min_gc
    out: [summary]
