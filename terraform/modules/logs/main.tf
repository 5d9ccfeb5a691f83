# Central logs: every pod's JSON lines, shipped by Fluent Bit (aws-for-fluent-bit, argocd/addons),
# in one CloudWatch Logs group per environment, encrypted with the environment's own KMS key and
# kept retention_days; Fluent Bit may only write to that group. Saved Logs Insights queries read
# the fields the services log (shopfloor_common.logs and the access log: service, level, status,
# route, request_id, duration_ms, message), which Fluent Bit's kubernetes filter merges under
# `data` (aws-for-fluent-bit's filter.mergeLogKey in argocd/addons/values.yaml).
data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  log_group = "/${var.name}/pods"
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  group_arn = "arn:${data.aws_partition.current.partition}:logs:${local.region}:${local.account}:log-group:${local.log_group}"
  on_eks    = var.platform == "eks"
  # arn:<partition>:iam::<account>:oidc-provider/<issuer>: the issuer keys the trust conditions.
  oidc_issuer = var.oidc_provider_arn != null ? split(":oidc-provider/", var.oidc_provider_arn)[1] : ""

  # Fluent Bit's cloudwatch_logs output with auto_create_group off: streams in the group that
  # Terraform made, nothing else (no CreateLogGroup, no other group).
  write_actions = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
}

resource "aws_kms_key" "logs" {
  description         = "${var.name}: CloudWatch Logs group ${local.log_group}"
  enable_key_rotation = true
  # The account administers the key through IAM; CloudWatch Logs may use it for this group only
  # (the encryption context CloudWatch Logs sends names the group).
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsUsesItForThisGroup"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.group_arn } }
      },
    ]
  })
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${var.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

resource "aws_cloudwatch_log_group" "pods" {
  name              = local.log_group
  retention_in_days = var.retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_iam_policy" "fluent_bit" {
  name        = "${var.name}-fluent-bit-logs"
  description = "Fluent Bit writes the pods' lines to ${local.log_group} and nowhere else."
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WritePodLogs"
      Effect   = "Allow"
      Action   = local.write_actions
      Resource = ["${local.group_arn}:*"]
    }]
  })
}

# EKS: only Fluent Bit's ServiceAccount, through the cluster's OIDC provider, with tokens for STS.
resource "aws_iam_role" "fluent_bit" {
  count = local.on_eks ? 1 : 0

  name                 = "${var.name}-fluent-bit"
  description          = "Fluent Bit ships pod logs to ${local.log_group} (IRSA, ${var.namespace}/${var.service_account})"
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = var.oidc_provider_arn }
      Condition = {
        StringEquals = {
          "${local.oidc_issuer}:sub" = "system:serviceaccount:${var.namespace}:${var.service_account}"
          "${local.oidc_issuer}:aud" = "sts.amazonaws.com"
        }
      }
    }]
  })

  lifecycle {
    precondition {
      condition     = var.oidc_provider_arn != null
      error_message = "platform eks needs oidc_provider_arn (Fluent Bit's IRSA role)."
    }
  }
}

resource "aws_iam_role_policy_attachment" "fluent_bit" {
  role       = local.on_eks ? aws_iam_role.fluent_bit[0].name : var.node_role_name
  policy_arn = aws_iam_policy.fluent_bit.arn

  lifecycle {
    precondition {
      condition     = local.on_eks || var.node_role_name != null
      error_message = "platform k3s needs node_role_name (Fluent Bit runs with the nodes' role)."
    }
  }
}

# Saved Logs Insights queries, in the console's query list under shopfloor-<env>/.
resource "aws_cloudwatch_query_definition" "errors_by_service" {
  name            = "${var.name}/errors-by-service"
  log_group_names = [aws_cloudwatch_log_group.pods.name]
  query_string    = <<-EOT
    fields @timestamp, data.service, data.level, data.status, data.route, data.request_id, data.message
    | filter data.level in ["ERROR", "CRITICAL"] or data.status >= 500
    | stats count(*) as errors by data.service
    | sort errors desc
  EOT
}

# One request across services: every service logs the gateway's X-Request-ID as request_id.
# Logs Insights has no parameters: replace REQUEST_ID with the id (a response header, or the
# request_id of an error above).
resource "aws_cloudwatch_query_definition" "request_trail" {
  name            = "${var.name}/request-trail"
  log_group_names = [aws_cloudwatch_log_group.pods.name]
  query_string    = <<-EOT
    fields @timestamp, data.service, data.level, data.method, data.route, data.status, data.duration_ms, data.message
    | filter data.request_id = "REQUEST_ID"
    | sort @timestamp asc
    | limit 500
  EOT
}
