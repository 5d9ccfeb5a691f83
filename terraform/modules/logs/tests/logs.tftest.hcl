# terraform test (plan only, AWS mocked): the group, its key, who may write to it, the saved queries.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "test-region-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  # The account id stays the mock's own: the assertions read it from the data source (no 12-digit
  # literal may sit under terraform/, tests/terraform/terraformkit.py check_hard_coded).
}

variables {
  # An all-zero account id, spelled with format() for the same reason.
  name              = "shopfloor-test"
  platform          = "eks"
  oidc_provider_arn = "arn:aws:iam::${format("%012d", 0)}:oidc-provider/oidc.eks.example/id/CLUSTER"
  retention_days    = 30
}

run "one_encrypted_group_per_environment_with_retention" {
  command = plan

  assert {
    condition     = aws_cloudwatch_log_group.pods.name == "/shopfloor-test/pods"
    error_message = "The group is /<name>/pods."
  }
  assert {
    condition     = aws_cloudwatch_log_group.pods.retention_in_days == 30
    error_message = "The group keeps lines retention_days."
  }
  assert {
    condition     = aws_kms_key.logs.enable_key_rotation
    error_message = "The key rotates."
  }
  assert {
    condition = jsondecode(aws_kms_key.logs.policy).Statement[1].Condition == {
      ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = "arn:aws:logs:test-region-1:${data.aws_caller_identity.current.account_id}:log-group:/shopfloor-test/pods" }
    }
    error_message = "CloudWatch Logs may use the key for this group only."
  }
  assert {
    condition     = jsondecode(aws_kms_key.logs.policy).Statement[1].Principal == { Service = "logs.test-region-1.amazonaws.com" }
    error_message = "The key is for CloudWatch Logs of the environment's region."
  }
}

run "fluent_bit_writes_to_the_group_and_nothing_else" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_policy.fluent_bit.policy).Statement == [{
      Sid      = "WritePodLogs"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
      Resource = ["arn:aws:logs:test-region-1:${data.aws_caller_identity.current.account_id}:log-group:/shopfloor-test/pods:*"]
    }]
    error_message = "Fluent Bit may create streams and put events in the pods' group only."
  }
}

run "on_eks_only_fluent_bit_s_service_account_assumes_the_role" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role.fluent_bit[0].assume_role_policy).Statement == [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = var.oidc_provider_arn }
      Condition = {
        StringEquals = {
          "oidc.eks.example/id/CLUSTER:sub" = "system:serviceaccount:kube-system:aws-for-fluent-bit"
          "oidc.eks.example/id/CLUSTER:aud" = "sts.amazonaws.com"
        }
      }
    }]
    error_message = "Only kube-system/aws-for-fluent-bit, with tokens for STS, may assume the role."
  }
  assert {
    condition     = aws_iam_role_policy_attachment.fluent_bit.role == "shopfloor-test-fluent-bit"
    error_message = "On EKS the policy is the IRSA role's."
  }
}

run "on_k3s_the_node_role_carries_it" {
  command = plan

  variables {
    platform          = "k3s"
    oidc_provider_arn = null
    node_role_name    = "shopfloor-test-k3s-node"
  }

  assert {
    condition     = length(aws_iam_role.fluent_bit) == 0
    error_message = "No IRSA role on K3s."
  }
  assert {
    condition     = aws_iam_role_policy_attachment.fluent_bit.role == "shopfloor-test-k3s-node"
    error_message = "On K3s the nodes' role gets the write policy."
  }
}

run "the_saved_queries_read_the_group" {
  command = plan

  assert {
    condition     = aws_cloudwatch_query_definition.errors_by_service.name == "shopfloor-test/errors-by-service" && aws_cloudwatch_query_definition.request_trail.name == "shopfloor-test/request-trail"
    error_message = "The queries are saved under the environment's name."
  }
  assert {
    condition     = jsonencode(aws_cloudwatch_query_definition.errors_by_service.log_group_names) == jsonencode(["/shopfloor-test/pods"]) && jsonencode(aws_cloudwatch_query_definition.request_trail.log_group_names) == jsonencode(["/shopfloor-test/pods"])
    error_message = "Both queries read the pods' group."
  }
  assert {
    condition     = strcontains(aws_cloudwatch_query_definition.request_trail.query_string, "filter data.request_id = ")
    error_message = "The request trail filters on request_id."
  }
}

run "a_retention_cloudwatch_does_not_offer_is_refused" {
  command = plan

  variables {
    retention_days = 10
  }

  expect_failures = [var.retention_days]
}

run "eks_without_an_oidc_provider_is_refused" {
  command = plan

  variables {
    oidc_provider_arn = null
  }

  expect_failures = [aws_iam_role.fluent_bit]
}

run "k3s_without_a_node_role_is_refused" {
  command = plan

  variables {
    platform          = "k3s"
    oidc_provider_arn = null
  }

  expect_failures = [aws_iam_role_policy_attachment.fluent_bit]
}
