"""sciregistry's artifact types and the annotations it reads (OCI image-spec v1.1 artifacts).

dataset     artifactType application/vnd.sciregistry.dataset.v1   one layer per file
result      artifactType application/vnd.sciregistry.result.v1    one layer per output file
run crate   artifactType application/vnd.sciregistry.rocrate.v1   subject = result;
            layers ro-crate-metadata.json (application/ld+json) and sciregistry-run.json
report      artifactType application/vnd.sciregistry.reproduction.v1   subject = result
"""

DATASET = "application/vnd.sciregistry.dataset.v1"
RESULT = "application/vnd.sciregistry.result.v1"
ROCRATE = "application/vnd.sciregistry.rocrate.v1"
REPORT = "application/vnd.sciregistry.reproduction.v1"

CRATE_METADATA_MEDIA_TYPE = "application/ld+json"
RUN_DESCRIPTION_MEDIA_TYPE = "application/vnd.sciregistry.run.v1+json"
REPORT_MEDIA_TYPE = "application/vnd.sciregistry.reproduction-report.v1+json"
CRATE_METADATA_NAME = "ro-crate-metadata.json"
RUN_DESCRIPTION_NAME = "sciregistry-run.json"

TITLE = "org.opencontainers.image.title"
CREATED = "org.opencontainers.image.created"
DESCRIPTION = "org.opencontainers.image.description"
