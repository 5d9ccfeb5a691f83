# The FIS role may do exactly what the chosen templates' actions need, narrowed to the shop's
# resources, and FIS alone may assume it. Planned against a mocked AWS provider (no AWS here);
# tests/terraform/test_terraform_chaos_fis.py runs it with chaos/aws beside the copy of terraform/.

# The provider checks the ARNs in the templates (region and account fields) even when mocked.
# The repository names no real region or account id (tests/terraform/terraformkit.py): the
# region is one no partition has, the account field one the ARN check accepts that is no
# account id (AWS-managed resources use it).
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "zz-test-1"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "aws"
    }
  }
}

variables {
  name                   = "shopfloor-test"
  cluster_name           = "shopfloor-test"
  db_instance_identifier = "shopfloor-test"
  vpc_id                 = "vpc-0a1b2c3d4e5f60718"
  availability_zone      = "test-zone-a"
}

run "every_template_and_exactly_their_permissions" {
  command = plan

  assert {
    condition     = toset(keys(aws_fis_experiment_template.this)) == toset(["az-network-disruption", "node-termination", "rds-failover"])
    error_message = "Every template in chaos/aws becomes an experiment template."
  }

  assert {
    condition = toset(flatten([for statement in jsondecode(aws_iam_role_policy.fis.policy).Statement : statement.Action])) == toset([
      "rds:RebootDBInstance", "rds:DescribeDBInstances",
      "ec2:TerminateInstances", "ec2:DescribeInstances",
      "ec2:CreateNetworkAcl", "ec2:CreateTags", "ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl",
      "ec2:ReplaceNetworkAclAssociation",
      "ec2:DescribeManagedPrefixLists", "ec2:DescribeNetworkAcls", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
    ])
    error_message = "The role allows exactly the actions rds-failover, node-termination and az-network-disruption need."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(aws_iam_role_policy.fis.policy).Statement :
      statement.Effect == "Allow" && (!contains(statement.Resource, "*") || alltrue([for action in statement.Action : length(regexall(":Describe", action)) > 0]))
    ])
    error_message = "Only Describe calls may name every resource (\"*\")."
  }

  assert {
    condition = one([
      for statement in jsondecode(aws_iam_role_policy.fis.policy).Statement : statement.Resource
      if contains(statement.Action, "rds:RebootDBInstance")
    ]) == ["arn:aws:rds:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:db:shopfloor-test"]
    error_message = "The role may reboot the shop's database and no other."
  }

  assert {
    condition = one([
      for statement in jsondecode(aws_iam_role_policy.fis.policy).Statement : try(statement.Condition.StringEquals["aws:ResourceTag/eks:cluster-name"], null)
      if contains(statement.Action, "ec2:TerminateInstances")
    ]) == "shopfloor-test"
    error_message = "The role may terminate only instances of the shop's cluster (by its eks:cluster-name tag)."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(aws_iam_role_policy.fis.policy).Statement :
      try(statement.Condition.StringEquals["ec2:ResourceTag/managedByFIS"], null) == "true"
      if contains(statement.Action, "ec2:DeleteNetworkAcl") || contains(statement.Action, "ec2:CreateNetworkAclEntry")
    ])
    error_message = "The role may change and delete only the network ACLs FIS made (tag managedByFIS=true)."
  }

  assert {
    condition     = jsondecode(aws_iam_role.fis.assume_role_policy).Statement[0].Principal == { Service = "fis.amazonaws.com" }
    error_message = "Only FIS assumes the role."
  }

  assert {
    condition     = jsondecode(aws_iam_role.fis.assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == data.aws_caller_identity.current.account_id
    error_message = "Only FIS experiments of this account assume the role."
  }

  assert {
    condition = [for condition in aws_fis_experiment_template.this["az-network-disruption"].stop_condition : condition.value] == [
      "arn:aws:cloudwatch:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:alarm:shopfloor-test-chaos-stop"
    ]
    error_message = "az-network-disruption stops on the module's alarm."
  }

  assert {
    condition = [for target in aws_fis_experiment_template.this["az-network-disruption"].target : [for filter in target.filter : filter.values]] == [
      [toset(["vpc-0a1b2c3d4e5f60718"]), toset(["test-zone-a"])]
    ]
    error_message = "az-network-disruption cuts off the chosen zone of the shop's VPC."
  }

  assert {
    condition     = [for action in aws_fis_experiment_template.this["rds-failover"].action : { for parameter in action.parameter : parameter.key => parameter.value }] == [{ forceFailover = "true" }]
    error_message = "rds-failover reboots with a forced failover."
  }
}

run "the_permissions_follow_the_chosen_templates" {
  command = plan

  variables {
    experiments = ["rds-failover"]
  }

  assert {
    condition     = toset(flatten([for statement in jsondecode(aws_iam_role_policy.fis.policy).Statement : statement.Action])) == toset(["rds:RebootDBInstance", "rds:DescribeDBInstances"])
    error_message = "With rds-failover alone, the role may reboot the database and nothing else."
  }
}

run "an_action_without_permissions_is_refused" {
  command = plan

  variables {
    templates_dir = "tests/unknown-action"
  }

  expect_failures = [aws_iam_role_policy.fis]
}
