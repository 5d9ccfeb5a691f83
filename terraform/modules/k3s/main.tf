data "aws_partition" "current" {}

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

resource "random_password" "token" {
  length  = 64
  special = false
}

resource "aws_kms_key" "k3s" {
  #checkov:skip=CKV2_AWS_64:The default key policy delegates to IAM in this account; the IAM policies that use the key are scoped to it, which is where access is reviewed.
  description         = "${var.name} K3s join token and volume encryption"
  enable_key_rotation = true
}

resource "aws_ssm_parameter" "token" {
  name   = "/${var.name}/k3s/token"
  type   = "SecureString"
  key_id = aws_kms_key.k3s.arn
  value  = random_password.token.result
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

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.nodes.id
  description       = "Image pulls, AWS APIs and the data stores (through NAT inside the VPC)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_iam_role" "node" {
  name = "${var.name}-k3s-node"
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
}

resource "aws_instance" "server" {
  #checkov:skip=CKV_AWS_126:Detailed (1-minute) monitoring costs extra per instance; 5-minute metrics and the cluster's own metrics suffice.
  ami                    = data.aws_ssm_parameter.ami.value
  instance_type          = var.server_instance_type
  subnet_id              = var.private_subnet_ids[0]
  vpc_security_group_ids = [aws_security_group.nodes.id]
  iam_instance_profile   = aws_iam_instance_profile.node.name
  ebs_optimized          = true
  user_data_base64       = base64encode(templatefile("${path.module}/templates/server.sh.tftpl", local.template_values))

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
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

resource "aws_launch_template" "agent" {
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
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
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

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }
}
