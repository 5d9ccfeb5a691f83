# terraform test (plan only, AWS mocked): the trust and the permissions, exactly.

mock_provider "aws" {}

variables {
  # An all-zero account id, spelled with format() because no 12-digit literal may sit under
  # terraform/ (tests/terraform/terraformkit.py check_hard_coded), real or not.
  oidc_provider_arn = "arn:aws:iam::${format("%012d", 0)}:oidc-provider/oidc.eks.example/id/CLUSTER"
  name_prefix       = "shopfloor-test"
  regions           = ["test-region-1"]
}

run "only_yace_s_service_account_may_assume_the_role" {
  command = plan

  assert {
    condition     = aws_iam_role.yace.name == "shopfloor-test-yace"
    error_message = "The role is named after name_prefix."
  }

  assert {
    condition = jsondecode(aws_iam_role.yace.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = var.oidc_provider_arn }
      Condition = {
        StringEquals = {
          "oidc.eks.example/id/CLUSTER:sub" = "system:serviceaccount:monitoring:yace"
          "oidc.eks.example/id/CLUSTER:aud" = "sts.amazonaws.com"
        }
      }
    }]
    error_message = "Only monitoring/yace, with tokens for STS, may assume the role through the cluster's OIDC provider."
  }
}

run "the_role_reads_metrics_and_tags_and_nothing_else" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role_policy.read_metrics.policy).Statement == [{
      Sid       = "ReadMetricsAndTags"
      Effect    = "Allow"
      Action    = ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "tag:GetResources"]
      Resource  = "*"
      Condition = { StringEquals = { "aws:RequestedRegion" = ["test-region-1"] } }
    }]
    error_message = "The policy grants exactly the three read actions, in the given regions."
  }
}

run "another_service_account" {
  command = plan

  variables {
    namespace       = "observability"
    service_account = "cloudwatch-exporter"
  }

  assert {
    condition     = jsondecode(aws_iam_role.yace.assume_role_policy).Statement[0].Condition.StringEquals["oidc.eks.example/id/CLUSTER:sub"] == "system:serviceaccount:observability:cloudwatch-exporter"
    error_message = "The trust follows namespace and service_account."
  }
}

run "a_malformed_provider_arn_is_refused" {
  command = plan

  variables {
    oidc_provider_arn = "oidc.eks.example/id/CLUSTER"
  }

  expect_failures = [var.oidc_provider_arn]
}

run "no_regions_is_refused" {
  command = plan

  variables {
    regions = []
  }

  expect_failures = [var.regions]
}
