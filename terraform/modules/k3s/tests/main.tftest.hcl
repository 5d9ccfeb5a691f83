# The K3s cluster as planned with a mock AWS provider: IMDSv2, encryption, the write-only join token,
# a node role scoped to what the nodes and their pods need, the public NLB and the NodePort rule.
mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks"
}

variables {
  name               = "shopfloor-dev"
  region             = "eu-west-1"
  vpc_id             = "vpc-mock"
  public_subnet_ids  = ["subnet-public-a", "subnet-public-b"]
  private_subnet_ids = ["subnet-private-a", "subnet-private-b"]
  node_role_name     = "shopfloor-dev-k3s-node"
  node_policy_arns   = ["arn:aws:iam::123456789012:policy/shopfloor-dev-external-secrets-read"]
  ecr_kms_key_arns   = ["arn:aws:kms:eu-west-1:123456789012:key/ecr"]
}

run "nodes_are_hardened" {
  command = plan

  assert {
    condition     = aws_instance.server.metadata_options[0].http_tokens == "required" && aws_launch_template.agent.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 only, on the server and the agents"
  }
  assert {
    condition     = aws_instance.server.metadata_options[0].http_put_response_hop_limit == 2 && aws_launch_template.agent.metadata_options[0].http_put_response_hop_limit == 2
    error_message = "pods (External Secrets, the catalog) reach the node role through IMDSv2: hop limit 2"
  }
  assert {
    condition     = aws_instance.server.root_block_device[0].encrypted && aws_launch_template.agent.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "root volumes are encrypted"
  }
  assert {
    condition     = aws_ssm_parameter.token.type == "SecureString" && aws_ssm_parameter.token.key_id == aws_kms_key.k3s.arn && aws_ssm_parameter.token.value_wo_version == 1
    error_message = "the join token is a write-only SecureString under the cluster's key: never in state"
  }
  assert {
    condition     = aws_iam_role.node.name == "shopfloor-dev-k3s-node"
    error_message = "the node role has the contract's name"
  }
}

run "the_node_role_is_least_privilege" {
  command = plan

  assert {
    condition     = toset([for attachment in aws_iam_role_policy_attachment.managed : attachment.policy_arn]) == toset(["arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"])
    error_message = "AWS-managed policies: ECR pulls and SSM sessions, nothing else"
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.token.policy).Statement == [
      { Effect = "Allow", Action = ["ssm:GetParameter"], Resource = "arn:aws:ssm:eu-west-1:123456789012:parameter/shopfloor-dev/k3s/token" },
      { Effect = "Allow", Action = ["kms:Decrypt"], Resource = ["arn:aws:kms:eu-west-1:123456789012:key/k3s", "arn:aws:kms:eu-west-1:123456789012:key/ecr"] },
    ]
    error_message = "the nodes read their join token and decrypt with their own and ECR's key only: ${aws_iam_role_policy.token.policy}"
  }
  assert {
    condition     = [for attachment in aws_iam_role_policy_attachment.extra : attachment.policy_arn] == ["arn:aws:iam::123456789012:policy/shopfloor-dev-external-secrets-read"]
    error_message = "the stack's policies (External Secrets' read access, the images bucket) reach the node role"
  }
}

run "a_public_nlb_fronts_traefik" {
  command = plan

  assert {
    condition     = aws_lb.edge.load_balancer_type == "network" && !aws_lb.edge.internal && aws_lb.edge.subnets == toset(["subnet-public-a", "subnet-public-b"])
    error_message = "an internet-facing NLB in the public subnets"
  }
  assert {
    condition     = toset([for listener in aws_lb_listener.edge : listener.port]) == toset([80, 443]) && alltrue([for listener in aws_lb_listener.edge : listener.protocol == "TCP"])
    error_message = "TCP 80 and 443 pass through to Traefik, which terminates TLS"
  }
  assert {
    condition     = alltrue([for group in aws_lb_target_group.edge : group.target_type == "instance"]) && aws_autoscaling_group.agents.target_group_arns == toset([for group in aws_lb_target_group.edge : group.arn])
    error_message = "the agents (and the server) are the NLB's targets"
  }
  assert {
    condition     = toset([for rule in aws_vpc_security_group_ingress_rule.edge : rule.from_port]) == toset([80, 443]) && alltrue([for rule in aws_vpc_security_group_ingress_rule.edge : rule.referenced_security_group_id == aws_security_group.edge.id])
    error_message = "the nodes take 80 and 443 from the NLB only"
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.node_port) == 0
    error_message = "no NodePort is open while the chart's NodePort is off"
  }
}

run "an_enabled_node_port_is_opened" {
  command = plan

  variables {
    node_port = { enabled = true, port = 30080, client_cidrs = ["10.10.0.0/16"] }
  }

  assert {
    condition     = [for rule in aws_vpc_security_group_ingress_rule.node_port : [rule.from_port, rule.to_port, rule.cidr_ipv4]] == [[30080, 30080, "10.10.0.0/16"]]
    error_message = "the NodePort 30080 is opened to the given networks only"
  }
}

run "a_node_port_without_clients_is_refused" {
  command = plan

  variables {
    node_port = { enabled = true, port = 30080, client_cidrs = [] }
  }

  expect_failures = [var.node_port]
}
