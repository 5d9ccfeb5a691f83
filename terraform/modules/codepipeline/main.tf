# FR-6.6 (optional): the release as an AWS-native pipeline. CodePipeline takes main from GitHub
# through a CodeConnections connection (a full clone, which the buildspec's `shopfloor changed` and
# bump need) and runs ci/codebuild/buildspec.yml in CodeBuild, the same release as GitHub Actions.
data "aws_partition" "current" {}

locals {
  arn_prefix     = "arn:${data.aws_partition.current.partition}"
  log_group_name = "/aws/codebuild/${var.name}-release"
  log_group_arn  = "${local.arn_prefix}:logs:${var.region}:${var.account_id}:log-group:${local.log_group_name}"
}

# One key for the artifacts, the build and its logs. Its policy delegates to IAM in this account and
# lets CloudWatch Logs use it for this one log group only.
resource "aws_kms_key" "pipeline" {
  description         = "${var.name} release pipeline artifacts and logs"
  enable_key_rotation = true
  policy              = jsonencode(local.key_policy)
}

locals {
  key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DelegateToIamInThisAccount"
        Effect    = "Allow"
        Principal = { AWS = "${local.arn_prefix}:iam::${var.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsForTheBuildLogGroup"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arn } }
      },
    ]
  }
}

resource "aws_cloudwatch_log_group" "build" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

# Created PENDING: someone with admin rights on the GitHub organisation completes the handshake
# once in the console (Developer Tools > Connections); until then the pipeline's source fails.
resource "aws_codestarconnections_connection" "github" {
  name          = substr("${var.name}-github", 0, 32)
  provider_type = "GitHub"
}

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_144:Artifacts are source snapshots CodePipeline recreates on the next run; replicating them to another region buys nothing.
  #checkov:skip=CKV_AWS_18:Access logging needs a separate log bucket per account; CloudTrail data events are the audit trail for this bucket.
  #checkov:skip=CKV2_AWS_62:Nothing consumes artifact events; CodePipeline itself reads and writes the objects.
  bucket_prefix = "${var.name}-pipeline-"
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.pipeline.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }

    expiration {
      days = var.artifact_expiry_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

# Policies as JSON (not aws_iam_policy_document): terraform test's mock provider replaces data
# sources with random text, and these are what the tests read.
locals {
  use_connection = {
    Sid      = "UseTheGitHubConnection"
    Effect   = "Allow"
    Action   = ["codeconnections:UseConnection", "codestar-connections:UseConnection"]
    Resource = aws_codestarconnections_connection.github.arn
  }
  artifacts = {
    Sid      = "ReadWriteArtifacts"
    Effect   = "Allow"
    Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    Resource = "${aws_s3_bucket.artifacts.arn}/*"
  }
  pipeline_key = {
    Sid      = "UseThePipelineKey"
    Effect   = "Allow"
    Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
    Resource = aws_kms_key.pipeline.arn
  }

  build_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "WriteBuildLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.build.arn}:*"
      },
      local.artifacts,
      local.pipeline_key,
      # The full clone and the bump's push to main go through the connection.
      local.use_connection,
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

  pipeline_policy = {
    Version = "2012-10-17"
    Statement = [
      local.artifacts,
      { Sid = "CheckTheArtifactBucket", Effect = "Allow", Action = ["s3:GetBucketVersioning"], Resource = aws_s3_bucket.artifacts.arn },
      local.pipeline_key,
      local.use_connection,
      {
        Sid      = "RunTheBuild"
        Effect   = "Allow"
        Action   = ["codebuild:BatchGetBuilds", "codebuild:StartBuild"]
        Resource = aws_codebuild_project.release.arn
      },
    ]
  }
}

resource "aws_iam_role" "build" {
  name = "${var.name}-codebuild-release"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "codebuild.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "build" {
  name   = "release"
  role   = aws_iam_role.build.id
  policy = jsonencode(local.build_policy)
}

resource "aws_iam_role" "pipeline" {
  name = "${var.name}-codepipeline-release"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "codepipeline.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "release"
  role   = aws_iam_role.pipeline.id
  policy = jsonencode(local.pipeline_policy)
}

resource "aws_codebuild_project" "release" {
  #checkov:skip=CKV_AWS_316:Privileged mode runs the Docker daemon the buildspec builds and scans images with; the project builds this repository's main branch only.
  name                   = "${var.name}-release"
  description            = "Build, scan and push the changed services, bump environments/dev (${var.buildspec})"
  service_role           = aws_iam_role.build.arn
  encryption_key         = aws_kms_key.pipeline.arn
  build_timeout          = 60
  concurrent_build_limit = 1

  source {
    type      = "CODEPIPELINE"
    buildspec = var.buildspec
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    type                        = "LINUX_CONTAINER"
    compute_type                = var.compute_type
    image                       = var.build_image
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = true

    environment_variable {
      name  = "AWS_ACCOUNT_ID"
      value = var.account_id
    }

    environment_variable {
      name  = "ECR_NAMESPACE"
      value = var.ecr_namespace
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.build.name
    }
  }
}

resource "aws_codepipeline" "release" {
  name          = "${var.name}-release"
  role_arn      = aws_iam_role.pipeline.arn
  pipeline_type = "V2"

  artifact_store {
    type     = "S3"
    location = aws_s3_bucket.artifacts.bucket

    encryption_key {
      type = "KMS"
      id   = aws_kms_key.pipeline.arn
    }
  }

  stage {
    name = "Source"

    action {
      name             = "GitHub"
      category         = "Source"
      owner            = "AWS"
      provider         = "CodeStarSourceConnection"
      version          = "1"
      output_artifacts = ["source"]

      configuration = {
        ConnectionArn    = aws_codestarconnections_connection.github.arn
        FullRepositoryId = var.github_repository
        BranchName       = var.branch
        # A git clone, not a zip: `shopfloor changed` diffs commits and the bump pushes to main.
        OutputArtifactFormat = "CODEBUILD_CLONE_REF"
        DetectChanges        = "true"
      }
    }
  }

  stage {
    name = "Release"

    action {
      name            = "BuildScanPushBump"
      category        = "Build"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      input_artifacts = ["source"]

      configuration = {
        ProjectName = aws_codebuild_project.release.name
      }
    }
  }
}
