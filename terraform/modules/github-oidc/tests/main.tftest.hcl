# The CI roles: trusted by one repository's workflows only, push limited to the shop's repositories,
# plan read-only apart from the state lock file.
mock_provider "aws" {
  override_during = plan

  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
  }
}

variables {
  name_prefix         = "shopfloor-dev"
  github_repository   = "shopfloor/shopfloor"
  ecr_repository_arns = ["arn:aws:ecr:eu-west-1:123456789012:repository/shopfloor/catalog"]
  ecr_kms_key_arn     = "arn:aws:kms:eu-west-1:123456789012:key/ecr"
  state_bucket_arn    = "arn:aws:s3:::shopfloor-terraform-state"
}

run "only_this_repository_may_assume_the_roles" {
  command = plan

  assert {
    condition     = jsondecode(aws_iam_role.push.assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] == "repo:shopfloor/shopfloor:*"
    error_message = "the subject is this repository's workflows: ${aws_iam_role.push.assume_role_policy}"
  }
  assert {
    condition     = jsondecode(aws_iam_role.push.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    error_message = "the audience is STS"
  }
  assert {
    condition     = aws_iam_role.plan.assume_role_policy == aws_iam_role.push.assume_role_policy
    error_message = "both roles have the same narrow trust"
  }
  assert {
    condition     = aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "the provider serves STS only"
  }
}

run "push_reaches_the_shops_repositories_only" {
  command = plan

  assert {
    condition     = jsondecode(aws_iam_role_policy.push.policy).Statement[0] == { Sid = "LogInToTheRegistry", Effect = "Allow", Action = ["ecr:GetAuthorizationToken"], Resource = "*" }
    error_message = "the one wildcard is GetAuthorizationToken, which has no resource-level permission"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.push.policy).Statement[1].Resource == ["arn:aws:ecr:eu-west-1:123456789012:repository/shopfloor/catalog"] && !anytrue([for action in jsondecode(aws_iam_role_policy.push.policy).Statement[1].Action : strcontains(action, "*") || strcontains(action, "Delete")])
    error_message = "push, never delete, on the given repositories: ${aws_iam_role_policy.push.policy}"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.push.policy).Statement[2].Resource == "arn:aws:kms:eu-west-1:123456789012:key/ecr"
    error_message = "the image key only"
  }
}

run "plan_writes_nothing_but_the_lock" {
  command = plan

  assert {
    condition     = aws_iam_role_policy_attachment.plan_read_only.policy_arn == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    error_message = "plan reads through ReadOnlyAccess"
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.plan_state.policy).Statement[1].Resource == "arn:aws:s3:::shopfloor-terraform-state/*.tflock" && length(jsondecode(aws_iam_role_policy.plan_state.policy).Statement) == 2
    error_message = "its only writes are the lock files: ${aws_iam_role_policy.plan_state.policy}"
  }
}

run "a_repository_wildcard_is_refused" {
  command = plan

  variables {
    github_repository = "shopfloor/*"
  }

  expect_failures = [var.github_repository]
}
