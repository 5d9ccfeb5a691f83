data "aws_partition" "current" {}

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

resource "aws_kms_key" "k3s" {
  #checkov:skip=CKV2_AWS_64:The default key policy delegates to IAM in this account; the IAM policies that use the key are scoped to it, which is where access is reviewed.
  description         = "${var.name} K3s join token and volume encryption"
  enable_key_rotation = true
}

# The join token is write-only: Terraform sends it once (and again when token_version changes) and
# keeps it neither in state nor in the plan. uuid() draws 122 random bits per call from the
# operating system's generator; two of them make the token.
resource "aws_ssm_parameter" "token" {
  name             = "/${var.name}/k3s/token"
  type             = "SecureString"
  key_id           = aws_kms_key.k3s.arn
  value_wo         = replace("${uuid()}${uuid()}", "-", "")
  value_wo_version = var.token_version
}

# Nodes talk to each other freely; the data stores admit this group only.
resource "aws_security_group" "nodes" {
  name        = "${var.name}-k3s-nodes"
  description = "K3s server and agents"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "node_to_node" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Cluster-internal traffic (API, kubelet, flannel, pods)"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "-1"
}

resource "aws_vpc_security_group_ingress_rule" "api" {
  for_each = toset(var.api_allowed_cidrs)

  security_group_id = aws_security_group.nodes.id
  description       = "Kubernetes API"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 6443
  to_port           = 6443
}

# The shop's public entry: the NLB forwards 80 and 443 to Traefik, which K3s's ServiceLB binds on
# every node; Traefik terminates TLS with cert-manager's ACME certificate (HTTP-01 on port 80).
resource "aws_vpc_security_group_ingress_rule" "edge" {
  for_each = toset([for port in var.edge_ports : tostring(port)])

  security_group_id            = aws_security_group.nodes.id
  description                  = "Traefik from the public NLB"
  referenced_security_group_id = aws_security_group.edge.id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

# The frontend's NodePort (PRD FR-2.4), only when the chart enables it, only from the given networks.
resource "aws_vpc_security_group_ingress_rule" "node_port" {
  for_each = var.node_port.enabled ? toset(var.node_port.client_cidrs) : toset([])

  security_group_id = aws_security_group.nodes.id
  description       = "Frontend NodePort"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.node_port.port
  to_port           = var.node_port.port
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.nodes.id
  description       = "Image pulls, AWS APIs and the data stores (through NAT inside the VPC)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_iam_role" "node" {
  name = var.node_role_name
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "managed" {
  for_each = toset([
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}"
}

resource "aws_iam_role_policy_attachment" "extra" {
  count = length(var.node_policy_arns)

  role       = aws_iam_role.node.name
  policy_arn = var.node_policy_arns[count.index]
}

resource "aws_iam_role_policy" "token" {
  name = "k3s-token"
  role = aws_iam_role.node.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = ["ssm:GetParameter"], Resource = aws_ssm_parameter.token.arn },
      { Effect = "Allow", Action = ["kms:Decrypt"], Resource = concat([aws_kms_key.k3s.arn], var.ecr_kms_key_arns) },
    ]
  })
}

resource "aws_iam_instance_profile" "node" {
  name = "${var.name}-k3s-node"
  role = aws_iam_role.node.name
}

locals {
  node_setup = templatefile("${path.module}/templates/node-setup.sh.tftpl", {
    credential_provider_version = var.ecr_credential_provider_version
  })
  template_values = {
    region          = var.region
    token_parameter = aws_ssm_parameter.token.name
    k3s_version     = var.k3s_version
    node_setup      = local.node_setup
  }

  # People log in with their IdP's ID token (kubelogin); the API server checks it against the
  # issuer's keys and maps the prefixed groups claim to access_groups, which argocd/security binds.
  oidc_apiserver_args = var.oidc == null ? tolist([]) : concat(
    [
      "oidc-issuer-url=${var.oidc.issuer_url}",
      "oidc-client-id=${var.oidc.client_id}",
      "oidc-username-claim=${var.oidc.username_claim}",
      "oidc-username-prefix=${var.oidc.username_prefix}",
      "oidc-groups-claim=${var.oidc.groups_claim}",
      "oidc-groups-prefix=${var.oidc.groups_prefix}",
    ],
    [for claim in sort(keys(var.oidc.required_claims)) : "oidc-required-claim=${claim}=${var.oidc.required_claims[claim]}"],
  )
  # Every server flag in K3s's config file (/etc/rancher/k3s/config.yaml: the flags without their
  # dashes, repeatable ones as lists), so user data and the SSM association below write one document.
  server_config = yamlencode(merge(
    {
      "secrets-encryption"      = true
      "write-kubeconfig-mode"   = "0600"
      "protect-kernel-defaults" = true
      "kubelet-arg" = [
        "image-credential-provider-config=/etc/rancher/k3s/credential-provider.yaml",
        "image-credential-provider-bin-dir=/usr/local/libexec/kubelet",
      ]
    },
    { for key, args in { "kube-apiserver-arg" = local.oidc_apiserver_args } : key => args if length(args) > 0 },
  ))
}

resource "aws_instance" "server" {
  #checkov:skip=CKV_AWS_126:Detailed (1-minute) monitoring costs extra per instance; 5-minute metrics and the cluster's own metrics suffice.
  ami                    = data.aws_ssm_parameter.ami.value
  instance_type          = var.server_instance_type
  subnet_id              = var.private_subnet_ids[0]
  vpc_security_group_ids = [aws_security_group.nodes.id]
  iam_instance_profile   = aws_iam_instance_profile.node.name
  ebs_optimized          = true
  user_data_base64 = base64encode(templatefile("${path.module}/templates/server.sh.tftpl", merge(local.template_values, {
    server_config = local.server_config
  })))

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
    # 2, not 1: K3s has no IRSA, so pods that need AWS (External Secrets, the catalog's S3) use the
    # node role through IMDSv2 one hop away. Which pods may is decided by their NetworkPolicies
    # (egress to 169.254.169.254); the node role is scoped to what those pods need.
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_size
    encrypted   = true
    kms_key_id  = aws_kms_key.k3s.arn
  }

  tags = {
    Name = "${var.name}-k3s-server"
  }

  lifecycle {
    # A new AMI must not replace the server (and its etcd/sqlite state) on the next apply.
    ignore_changes = [ami, user_data_base64]
  }
}

# User data runs once, and the server is never replaced for a change of it (its state lives on
# it): this association writes the same config file on the running server whenever it changes,
# and restarts K3s only then. Turning OIDC on or changing the issuer is an apply, not a rebuild.
resource "aws_ssm_association" "server_config" {
  name             = "AWS-RunShellScript"
  association_name = "${var.name}-k3s-server-config"

  targets {
    key    = "InstanceIds"
    values = [aws_instance.server.id]
  }

  parameters = {
    commands = templatefile("${path.module}/templates/apply-server-config.sh.tftpl", {
      config_base64 = base64encode(local.server_config)
    })
  }
}

resource "aws_launch_template" "agent" {
  #checkov:skip=CKV_AWS_341:Hop limit 2 is how pods reach the node role on K3s, which has no IRSA; NetworkPolicies decide which pods may reach the metadata service.
  name_prefix   = "${var.name}-k3s-agent-"
  image_id      = data.aws_ssm_parameter.ami.value
  instance_type = var.agent_instance_type
  ebs_optimized = true
  user_data = base64encode(templatefile("${path.module}/templates/agent.sh.tftpl", merge(local.template_values, {
    server_address = aws_instance.server.private_ip
  })))

  iam_instance_profile {
    arn = aws_iam_instance_profile.node.arn
  }

  vpc_security_group_ids = [aws_security_group.nodes.id]

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
    # 2, not 1: K3s has no IRSA, so pods that need AWS (External Secrets, the catalog's S3) use the
    # node role through IMDSv2 one hop away. Which pods may is decided by their NetworkPolicies
    # (egress to 169.254.169.254); the node role is scoped to what those pods need.
    http_put_response_hop_limit = 2
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type = "gp3"
      volume_size = var.root_volume_size
      encrypted   = true
      kms_key_id  = aws_kms_key.k3s.arn
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags = {
      Name = "${var.name}-k3s-agent"
    }
  }
}

resource "aws_autoscaling_group" "agents" {
  name                = "${var.name}-k3s-agents"
  vpc_zone_identifier = var.private_subnet_ids
  min_size            = var.agent_min_size
  max_size            = var.agent_max_size
  desired_capacity    = var.agent_min_size
  health_check_type   = "EC2"

  launch_template {
    id      = aws_launch_template.agent.id
    version = aws_launch_template.agent.latest_version
  }

  tag {
    key                 = "Name"
    value               = "${var.name}-k3s-agent"
    propagate_at_launch = true
  }

  target_group_arns = [for group in aws_lb_target_group.edge : group.arn]

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }
}

resource "aws_security_group" "edge" {
  name        = "${var.name}-k3s-edge"
  description = "Public NLB in front of Traefik"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "edge_public" {
  #checkov:skip=CKV_AWS_260:The shop is public: its NLB takes HTTP (ACME challenges and the redirect to HTTPS) and HTTPS from anywhere, and reaches only Traefik.
  for_each = toset([for port in var.edge_ports : tostring(port)])

  security_group_id = aws_security_group.edge.id
  description       = "The shop from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
}

resource "aws_vpc_security_group_egress_rule" "edge_to_nodes" {
  for_each = toset([for port in var.edge_ports : tostring(port)])

  security_group_id            = aws_security_group.edge.id
  description                  = "To Traefik on the nodes"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

resource "aws_lb" "edge" {
  #checkov:skip=CKV_AWS_91:Access logs need a log bucket per account; Traefik's access log (one JSON line per request) records the same requests in the cluster.
  name                             = "${var.name}-edge"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = var.public_subnet_ids
  security_groups                  = [aws_security_group.edge.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
}

resource "aws_lb_target_group" "edge" {
  for_each = toset([for port in var.edge_ports : tostring(port)])

  name        = "${var.name}-traefik-${each.value}"
  port        = tonumber(each.value)
  protocol    = "TCP"
  target_type = "instance"
  vpc_id      = var.vpc_id

  health_check {
    protocol = "TCP"
  }
}

resource "aws_lb_listener" "edge" {
  #checkov:skip=CKV_AWS_2:TCP pass-through: Traefik terminates TLS with the cert-manager certificate, so the NLB never sees plain HTTP it could redirect.
  #checkov:skip=CKV2_AWS_74:The NLB does not terminate TLS (TCP pass-through), so it has no TLS policy; Traefik's TLS options apply.
  for_each = aws_lb_target_group.edge

  load_balancer_arn = aws_lb.edge.arn
  port              = each.value.port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = each.value.arn
  }
}

# The server runs workloads too (K3s schedules on it), so it takes traffic like the agents.
resource "aws_lb_target_group_attachment" "server" {
  for_each = aws_lb_target_group.edge

  target_group_arn = each.value.arn
  target_id        = aws_instance.server.id
  port             = each.value.port
}
