# IRSA role for YACE (prometheus-community yet-another-cloudwatch-exporter): read-only access to
# CloudWatch metrics and to resource tags, the minimum its discovery jobs need ("bare minimum
# permissions" in YACE's README, less GetMetricStatistics, which only its static jobs call).
locals {
  # arn:<partition>:iam::<account>:oidc-provider/<issuer>: the issuer is what the token's claims
  # are keyed by in the trust policy's conditions.
  oidc_issuer = split(":oidc-provider/", var.oidc_provider_arn)[1]

  read_actions = [
    "cloudwatch:GetMetricData",
    "cloudwatch:ListMetrics",
    "tag:GetResources",
  ]
}

# Only YACE's ServiceAccount, through the cluster's OIDC provider, with tokens meant for STS.
resource "aws_iam_role" "yace" {
  name                 = "${var.name_prefix}-yace"
  description          = "YACE reads CloudWatch metrics and resource tags (IRSA, ${var.namespace}/${var.service_account})"
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
}

# None of the three actions supports resource-level permissions (the IAM service authorization
# reference lists no resource type for them), so the scope is the regions instead.
resource "aws_iam_role_policy" "read_metrics" {
  name = "cloudwatch-read"
  role = aws_iam_role.yace.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ReadMetricsAndTags"
      Effect    = "Allow"
      Action    = local.read_actions
      Resource  = "*"
      Condition = { StringEquals = { "aws:RequestedRegion" = var.regions } }
    }]
  })
}
