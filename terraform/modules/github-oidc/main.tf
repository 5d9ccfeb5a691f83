data "aws_partition" "current" {}

# No thumbprint_list: AWS verifies GitHub's OIDC endpoint against its own trusted root CAs, so a
# pinned thumbprint (and the tls provider to fetch one) adds nothing but a certificate to track.
resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_provider ? 0 : 1
  url   = "https://token.actions.githubusercontent.com"
}

# Policies are written as JSON here rather than with aws_iam_policy_document: a data source is
# replaced by random text under terraform test's mock provider, and these are what the tests read.
locals {
  provider_arn = var.create_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn

  # Only workflows of this one repository may assume the roles.
  trust_policy = {
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = local.provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = { "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com" }
        StringLike   = { "token.actions.githubusercontent.com:sub" = "repo:${var.github_repository}:*" }
      }
    }]
  }

  push_policy = {
    Version = "2012-10-17"
    Statement = [
      # GetAuthorizationToken has no resource-level permissions.
      { Sid = "LogInToTheRegistry", Effect = "Allow", Action = ["ecr:GetAuthorizationToken"], Resource = "*" },
      {
        Sid    = "PushToTheShopsRepositories"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:CompleteLayerUpload",
          "ecr:DescribeImages",
          "ecr:InitiateLayerUpload",
          "ecr:PutImage",
          "ecr:UploadLayerPart",
        ]
        Resource = var.ecr_repository_arns
      },
      { Sid = "UseTheImageKey", Effect = "Allow", Action = ["kms:Decrypt", "kms:GenerateDataKey"], Resource = var.ecr_kms_key_arn },
    ]
  }

  # Plan reads the state (ReadOnlyAccess) and takes the S3 lock file; nothing else it may write.
  plan_state_policy = {
    Version = "2012-10-17"
    Statement = [
      { Sid = "ListTheStateBucket", Effect = "Allow", Action = ["s3:ListBucket"], Resource = var.state_bucket_arn },
      { Sid = "TakeTheLock", Effect = "Allow", Action = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], Resource = "${var.state_bucket_arn}/*.tflock" },
    ]
  }
}

resource "aws_iam_role" "push" {
  name                 = "${var.name_prefix}-github-push"
  description          = "GitHub Actions pushes images to ECR"
  assume_role_policy   = jsonencode(local.trust_policy)
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "push" {
  name   = "ecr-push"
  role   = aws_iam_role.push.id
  policy = jsonencode(local.push_policy)
}

resource "aws_iam_role" "plan" {
  name                 = "${var.name_prefix}-github-plan"
  description          = "GitHub Actions runs terraform plan (read-only)"
  assume_role_policy   = jsonencode(local.trust_policy)
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.plan.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/ReadOnlyAccess"
}

resource "aws_iam_role_policy" "plan_state" {
  name   = "terraform-state-lock"
  role   = aws_iam_role.plan.id
  policy = jsonencode(local.plan_state_policy)
}
