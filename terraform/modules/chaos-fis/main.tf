# AWS FIS for the shop's AWS-layer faults (chaos/faults.yaml): the experiment role, the stop
# alarm and one experiment template per JSON template in chaos/aws/. The JSON files are the
# source: each is a CreateExperimentTemplate request with ${name} placeholders this module fills
# (the same ones envsubst fills for `aws fis create-experiment-template --cli-input-json`), and
# the role may do exactly what the actions of the chosen templates need.
data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

# The ALB the AWS Load Balancer Controller made for the shop's Ingresses: it exists only once the
# shop is deployed, so this module is applied after that (README.md).
data "aws_lb" "shop" {
  tags = {
    "elbv2.k8s.aws/cluster" = var.cluster_name
    "ingress.k8s.aws/stack" = var.ingress_group
  }
}

locals {
  templates_dir = coalesce(var.templates_dir, "${path.module}/../../../chaos/aws")
  names = toset(var.experiments != null ? var.experiments : [
    for file in fileset(local.templates_dir, "*.json") : trimsuffix(file, ".json")
  ])

  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  role_name  = "${var.name}-chaos-fis"
  alarm_name = "${var.name}-chaos-stop"

  vpc_arn         = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc/${var.vpc_id}"
  network_acls    = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-acl/*"
  subnets         = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/*"
  instances       = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"
  db_instance_arn = "arn:${local.partition}:rds:${local.region}:${local.account_id}:db:${var.db_instance_identifier}"

  # The placeholders' values. The ARNs of the role and the alarm are spelled out from their names
  # (not read from the resources) so the templates are known when planning; the templates
  # depend on both resources, so both exist before FIS sees a template.
  template_values = {
    role_arn          = "arn:${local.partition}:iam::${local.account_id}:role/${local.role_name}"
    stop_alarm_arn    = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.alarm_name}"
    cluster_name      = var.cluster_name
    db_instance_arn   = local.db_instance_arn
    vpc_id            = var.vpc_id
    availability_zone = var.availability_zone
  }
  rendered  = { for name in local.names : name => templatefile("${local.templates_dir}/${name}.json", local.template_values) }
  templates = { for name, text in local.rendered : name => jsondecode(text) }

  action_ids = toset(flatten([for template in local.templates : [for action in values(template.actions) : action.actionId]]))

  # What each FIS action needs, from the FIS actions reference, narrowed to this environment's
  # resources. Describe* calls take no resource-level permissions (EC2) or are read-only
  # lookups FIS makes to resolve targets (RDS).
  statements_by_action = {
    "aws:rds:reboot-db-instances" = [
      {
        Sid      = "RebootTheShopDatabase"
        Effect   = "Allow"
        Action   = ["rds:RebootDBInstance"]
        Resource = [local.db_instance_arn]
      },
      {
        Sid      = "FindDatabases"
        Effect   = "Allow"
        Action   = ["rds:DescribeDBInstances"]
        Resource = ["*"]
      },
    ]
    "aws:ec2:terminate-instances" = [
      {
        Sid       = "TerminateTheClustersNodes"
        Effect    = "Allow"
        Action    = ["ec2:TerminateInstances"]
        Resource  = [local.instances]
        Condition = { StringEquals = { "aws:ResourceTag/eks:cluster-name" = var.cluster_name } }
      },
      {
        Sid      = "FindInstances"
        Effect   = "Allow"
        Action   = ["ec2:DescribeInstances"]
        Resource = ["*"]
      },
    ]
    # FIS clones the subnets' network ACL into a deny-all one it tags managedByFIS=true, swaps
    # it in, and swaps the original back at the end.
    "aws:network:disrupt-connectivity" = [
      {
        Sid       = "CreateFisNetworkAcls"
        Effect    = "Allow"
        Action    = ["ec2:CreateNetworkAcl"]
        Resource  = [local.network_acls]
        Condition = { StringEquals = { "aws:RequestTag/managedByFIS" = "true" } }
      },
      {
        Sid      = "CreateNetworkAclsInTheShopsVpc"
        Effect   = "Allow"
        Action   = ["ec2:CreateNetworkAcl"]
        Resource = [local.vpc_arn]
      },
      {
        Sid      = "TagFisNetworkAcls"
        Effect   = "Allow"
        Action   = ["ec2:CreateTags"]
        Resource = [local.network_acls]
        Condition = { StringEquals = {
          "ec2:CreateAction"            = "CreateNetworkAcl"
          "aws:RequestTag/managedByFIS" = "true"
        } }
      },
      {
        Sid       = "ChangeAndDeleteOnlyFisNetworkAcls"
        Effect    = "Allow"
        Action    = ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"]
        Resource  = [local.network_acls]
        Condition = { StringEquals = { "ec2:ResourceTag/managedByFIS" = "true" } }
      },
      {
        Sid       = "SwapNetworkAclsInTheShopsVpc"
        Effect    = "Allow"
        Action    = ["ec2:ReplaceNetworkAclAssociation"]
        Resource  = [local.subnets, local.network_acls]
        Condition = { StringEquals = { "ec2:Vpc" = local.vpc_arn } }
      },
      {
        Sid      = "FindSubnetsAndNetworkAcls"
        Effect   = "Allow"
        Action   = ["ec2:DescribeManagedPrefixLists", "ec2:DescribeNetworkAcls", "ec2:DescribeSubnets", "ec2:DescribeVpcs"]
        Resource = ["*"]
      },
    ]
  }
  unsupported_actions = setsubtract(local.action_ids, keys(local.statements_by_action))
  statements          = flatten([for id in sort(tolist(local.action_ids)) : lookup(local.statements_by_action, id, [])])
}

resource "aws_iam_role" "fis" {
  name        = local.role_name
  description = "Runs the shop's AWS FIS experiments (chaos/aws)."
  tags        = var.tags

  # Only FIS, and only for experiments in this account and region (confused-deputy guard).
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "fis.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:fis:${local.region}:${local.account_id}:experiment/*" }
      }
    }]
  })
}

resource "aws_iam_role_policy" "fis" {
  name = "fis-actions"
  role = aws_iam_role.fis.id

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.statements
  })

  lifecycle {
    precondition {
      condition     = length(local.unsupported_actions) == 0
      error_message = "The templates use FIS actions this module grants nothing for: ${join(", ", sort(tolist(local.unsupported_actions)))}. Add their permissions to statements_by_action."
    }
  }
}

# The stop condition: the share of the shop's requests that fail at the ALB. An experiment that
# hurts more than one zone's worth is stopped (FIS restores what it changed).
resource "aws_cloudwatch_metric_alarm" "stop" {
  alarm_name          = local.alarm_name
  alarm_description   = "Stops running FIS experiments: more than ${var.stop_error_percent}% of the shop's requests answered 5xx at the ALB over one minute."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.stop_error_percent
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"
  tags                = var.tags

  metric_query {
    id          = "error_percent"
    label       = "5xx share of requests (%)"
    expression  = "IF(requests > 0, 100 * (FILL(elb_5xx, 0) + FILL(target_5xx, 0)) / requests, 0)"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = {
      requests   = "RequestCount"
      elb_5xx    = "HTTPCode_ELB_5XX_Count"
      target_5xx = "HTTPCode_Target_5XX_Count"
    }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/ApplicationELB"
        metric_name = metric_query.value
        dimensions  = { LoadBalancer = data.aws_lb.shop.arn_suffix }
        period      = 60
        stat        = "Sum"
      }
    }
  }
}

resource "aws_fis_experiment_template" "this" {
  for_each = local.templates

  description = each.value.description
  role_arn    = aws_iam_role.fis.arn
  tags        = merge(try(each.value.tags, {}), var.tags)

  dynamic "action" {
    for_each = each.value.actions
    content {
      name        = action.key
      action_id   = action.value.actionId
      description = try(action.value.description, null)
      start_after = try(action.value.startAfter, null)

      dynamic "parameter" {
        for_each = try(action.value.parameters, {})
        content {
          key   = parameter.key
          value = parameter.value
        }
      }

      dynamic "target" {
        for_each = try(action.value.targets, {})
        content {
          key   = target.key
          value = target.value
        }
      }
    }
  }

  dynamic "target" {
    for_each = try(each.value.targets, {})
    content {
      name           = target.key
      resource_type  = target.value.resourceType
      selection_mode = target.value.selectionMode
      resource_arns  = try(target.value.resourceArns, null)
      parameters     = try(target.value.parameters, null)

      dynamic "resource_tag" {
        for_each = try(target.value.resourceTags, {})
        content {
          key   = resource_tag.key
          value = resource_tag.value
        }
      }

      dynamic "filter" {
        for_each = try(target.value.filters, [])
        content {
          path   = filter.value.path
          values = filter.value.values
        }
      }
    }
  }

  dynamic "stop_condition" {
    for_each = each.value.stopConditions
    content {
      source = stop_condition.value.source
      value  = try(stop_condition.value.value, null)
    }
  }

  # The templates name the role and the alarm by ARN (template_values): both must exist first.
  depends_on = [aws_iam_role_policy.fis, aws_cloudwatch_metric_alarm.stop]
}
