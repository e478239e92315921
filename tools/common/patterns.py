"""Patterns for the strings several domains accept from a caller; Kubernetes names live in common.k8s.

The standard formats (URLs, S3 URIs, IAM role ARNs, ECR images) guard what we render against injection; an assistant
knows these formats from the field's description, so tools/list leaves them out (server.tool_schemas) while the
server enforces them.
"""

URL_PATTERN = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"  # http(s) base URL: a host, an optional path, no query
# A browser origin: scheme://host[:port] (host may start with MLflow's *. wildcard), or an IPv6 literal. No path,
# no comma (the list is joined with commas), no `$` (compose and Kubernetes would expand it).
ORIGIN_PATTERN = r"^https?://((\*\.)?[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])(:(\d{1,5}|\*))?$"
ENDPOINT_PATTERN = r"^https?://([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(:\d{1,5})?(/[A-Za-z0-9._~/-]{0,256})?$"
# From botocore's sagemaker model (anchored here; AWS applies them to the whole value).
ROLE_ARN_PATTERN = r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^\s]*)?$"
IMAGE_URI_PATTERN = r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$"

STANDARD_FORMATS = frozenset({URL_PATTERN, ORIGIN_PATTERN, ENDPOINT_PATTERN, ROLE_ARN_PATTERN, S3_URI_PATTERN,
                              IMAGE_URI_PATTERN})
