# The optional AWS-native release (FR-6.6): GitHub through a connection, the repository's buildspec
# in CodeBuild, everything encrypted, and roles that reach this pipeline's resources only.
mock_provider "aws" {
  override_during = plan

  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/pipeline" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::shopfloor-dev-pipeline-x", id = "shopfloor-dev-pipeline-x", bucket = "shopfloor-dev-pipeline-x" }
  }
  mock_resource "aws_codestarconnections_connection" {
    defaults = { arn = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/0123" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/codebuild/shopfloor-dev-release" }
  }
  mock_resource "aws_codebuild_project" {
    defaults = { arn = "arn:aws:codebuild:eu-west-1:123456789012:project/shopfloor-dev-release" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/shopfloor-dev-release" }
  }
}

variables {
  name                = "shopfloor-dev"
  account_id          = "123456789012"
  region              = "eu-west-1"
  github_repository   = "shopfloor/shopfloor"
  ecr_repository_arns = ["arn:aws:ecr:eu-west-1:123456789012:repository/shopfloor/catalog"]
  ecr_kms_key_arn     = "arn:aws:kms:eu-west-1:123456789012:key/ecr"
}

run "github_to_the_repositorys_buildspec" {
  command = plan

  assert {
    condition     = aws_codebuild_project.release.source[0].buildspec == "ci/codebuild/buildspec.yml" && aws_codebuild_project.release.source[0].type == "CODEPIPELINE"
    error_message = "the build runs the repository's own buildspec"
  }
  assert {
    condition     = aws_codepipeline.release.stage[0].action[0].configuration.FullRepositoryId == "shopfloor/shopfloor" && aws_codepipeline.release.stage[0].action[0].configuration.BranchName == "main"
    error_message = "the source is main of the repository"
  }
  assert {
    condition     = aws_codepipeline.release.stage[0].action[0].configuration.OutputArtifactFormat == "CODEBUILD_CLONE_REF"
    error_message = "the build gets a git clone (shopfloor changed diffs commits; the bump pushes)"
  }
  assert {
    condition     = aws_codepipeline.release.stage[1].action[0].configuration.ProjectName == aws_codebuild_project.release.name
    error_message = "the second stage runs the build"
  }
  assert {
    condition     = aws_codebuild_project.release.concurrent_build_limit == 1
    error_message = "releases run one at a time, in order"
  }
}

run "everything_is_encrypted_and_private" {
  command = plan

  assert {
    condition     = aws_codebuild_project.release.encryption_key == aws_kms_key.pipeline.arn && one(aws_codepipeline.release.artifact_store).encryption_key[0].id == aws_kms_key.pipeline.arn
    error_message = "artifacts are encrypted with the pipeline's key"
  }
  assert {
    condition     = aws_cloudwatch_log_group.build.kms_key_id == aws_kms_key.pipeline.arn && aws_kms_key.pipeline.enable_key_rotation
    error_message = "build logs too, with a rotating key"
  }
  assert {
    condition     = jsondecode(aws_kms_key.pipeline.policy).Statement[1].Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"] == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/codebuild/shopfloor-dev-release"
    error_message = "CloudWatch Logs may use the key for the build's log group only"
  }
  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.artifacts.block_public_acls,
      aws_s3_bucket_public_access_block.artifacts.block_public_policy,
      aws_s3_bucket_public_access_block.artifacts.ignore_public_acls,
      aws_s3_bucket_public_access_block.artifacts.restrict_public_buckets,
    ])
    error_message = "the artifact bucket is never public"
  }
  assert {
    condition     = jsondecode(aws_s3_bucket_policy.artifacts.policy).Statement[0].Effect == "Deny" && jsondecode(aws_s3_bucket_policy.artifacts.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    error_message = "the artifact bucket refuses requests without TLS"
  }
}

run "the_roles_are_least_privilege" {
  command = plan

  assert {
    condition     = [for statement in jsondecode(aws_iam_role_policy.build.policy).Statement : statement.Resource if contains(statement.Action, "ecr:PutImage")] == [["arn:aws:ecr:eu-west-1:123456789012:repository/shopfloor/catalog"]]
    error_message = "the build pushes to the shop's repositories only: ${aws_iam_role_policy.build.policy}"
  }
  assert {
    condition     = [for statement in jsondecode(aws_iam_role_policy.build.policy).Statement : statement.Sid if statement.Resource == "*"] == ["LogInToTheRegistry"]
    error_message = "the build's one wildcard resource is ecr:GetAuthorizationToken: ${aws_iam_role_policy.build.policy}"
  }
  assert {
    condition     = [for statement in jsondecode(aws_iam_role_policy.build.policy).Statement : statement.Resource if statement.Sid == "WriteBuildLogs"] == ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/codebuild/shopfloor-dev-release:*"]
    error_message = "the build writes its own log group only"
  }
  assert {
    condition     = [for statement in jsondecode(aws_iam_role_policy.pipeline.policy).Statement : statement.Resource if statement.Sid == "RunTheBuild"] == ["arn:aws:codebuild:eu-west-1:123456789012:project/shopfloor-dev-release"]
    error_message = "the pipeline starts this project only"
  }
  assert {
    condition     = !anytrue([for statement in jsondecode(aws_iam_role_policy.pipeline.policy).Statement : statement.Resource == "*"])
    error_message = "the pipeline's role has no wildcard resource: ${aws_iam_role_policy.pipeline.policy}"
  }
  assert {
    condition     = jsondecode(aws_iam_role.build.assume_role_policy).Statement[0].Principal == { Service = "codebuild.amazonaws.com" } && jsondecode(aws_iam_role.pipeline.assume_role_policy).Statement[0].Principal == { Service = "codepipeline.amazonaws.com" }
    error_message = "each role is assumable by its service only"
  }
}
