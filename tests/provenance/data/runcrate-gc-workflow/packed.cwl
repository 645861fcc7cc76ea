{
    "$graph": [
        {
            "class": "CommandLineTool",
            "label": "GC fraction and k-mer counts per sequence",
            "requirements": [
                {
                    "dockerPull": "127.0.0.1:44541/lab/gc-content@sha256:f1c9fbd6a226b2fffb0663e4cd1080f189cb9bfc65f45dd60ea3381023afb023",
                    "class": "DockerRequirement"
                }
            ],
            "baseCommand": [
                "gc-content.sh"
            ],
            "arguments": [
                {
                    "position": 4,
                    "valueFrom": "$(runtime.outdir)"
                }
            ],
            "inputs": [
                {
                    "type": "int",
                    "inputBinding": {
                        "position": 1,
                        "prefix": "--k"
                    },
                    "id": "#gc.cwl/k"
                },
                {
                    "type": "int",
                    "inputBinding": {
                        "position": 2,
                        "prefix": "--min-length"
                    },
                    "id": "#gc.cwl/min_length"
                },
                {
                    "type": "Directory",
                    "inputBinding": {
                        "position": 3
                    },
                    "id": "#gc.cwl/reads"
                }
            ],
            "id": "#gc.cwl",
            "outputs": [
                {
                    "type": "File",
                    "outputBinding": {
                        "glob": "gc.tsv"
                    },
                    "id": "#gc.cwl/gc_table"
                },
                {
                    "type": "File",
                    "outputBinding": {
                        "glob": "kmers.tsv"
                    },
                    "id": "#gc.cwl/kmers"
                }
            ]
        },
        {
            "class": "CommandLineTool",
            "label": "Summary statistics of a GC table",
            "requirements": [
                {
                    "dockerPull": "127.0.0.1:44541/lab/gc-summary@sha256:b96fd305bc378602dc1e0b333be106845fd9ff4b33c9534402cd213c7e927905",
                    "class": "DockerRequirement"
                }
            ],
            "baseCommand": [
                "gc-summary.sh"
            ],
            "inputs": [
                {
                    "type": "File",
                    "inputBinding": {
                        "position": 2
                    },
                    "id": "#summary.cwl/gc_table"
                },
                {
                    "type": "string",
                    "inputBinding": {
                        "position": 1,
                        "prefix": "--min-gc"
                    },
                    "id": "#summary.cwl/min_gc"
                }
            ],
            "stdout": "summary.tsv",
            "outputs": [
                {
                    "type": "File",
                    "id": "#summary.cwl/summary",
                    "outputBinding": {
                        "glob": "summary.tsv"
                    }
                }
            ],
            "id": "#summary.cwl"
        },
        {
            "class": "Workflow",
            "label": "GC content and summary statistics of FASTA files",
            "inputs": [
                {
                    "type": "int",
                    "id": "#main/k"
                },
                {
                    "type": "string",
                    "id": "#main/min_gc"
                },
                {
                    "type": "int",
                    "id": "#main/min_length"
                },
                {
                    "type": "Directory",
                    "id": "#main/reads"
                }
            ],
            "outputs": [
                {
                    "type": "File",
                    "outputSource": "#main/gc/gc_table",
                    "id": "#main/gc_table"
                },
                {
                    "type": "File",
                    "outputSource": "#main/gc/kmers",
                    "id": "#main/kmers"
                },
                {
                    "type": "File",
                    "outputSource": "#main/stats/summary",
                    "id": "#main/summary"
                }
            ],
            "steps": [
                {
                    "run": "#gc.cwl",
                    "in": [
                        {
                            "source": "#main/k",
                            "id": "#main/gc/k"
                        },
                        {
                            "source": "#main/min_length",
                            "id": "#main/gc/min_length"
                        },
                        {
                            "source": "#main/reads",
                            "id": "#main/gc/reads"
                        }
                    ],
                    "out": [
                        "#main/gc/gc_table",
                        "#main/gc/kmers"
                    ],
                    "id": "#main/gc"
                },
                {
                    "run": "#summary.cwl",
                    "in": [
                        {
                            "source": "#main/gc/gc_table",
                            "id": "#main/stats/gc_table"
                        },
                        {
                            "source": "#main/min_gc",
                            "id": "#main/stats/min_gc"
                        }
                    ],
                    "out": [
                        "#main/stats/summary"
                    ],
                    "id": "#main/stats"
                }
            ],
            "id": "#main"
        }
    ],
    "cwlVersion": "v1.2"
}