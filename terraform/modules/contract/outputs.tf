output "environment" {
  description = "Environment name (tags, names, DNS)."
  value       = var.environment

  precondition {
    condition     = try(local.facts.environment, null) == var.environment
    error_message = "${local.source_file} says environment ${try(local.facts.environment, "(none)")}, not ${var.environment}."
  }
}

output "source_file" {
  description = "The file the decided facts come from."
  value       = local.source_file
}

output "platform" {
  description = "eks or k3s: the cluster Terraform builds."
  value       = local.platform

  precondition {
    condition     = contains(["eks", "k3s"], local.platform)
    error_message = "platform in ${local.source_file} must be eks or k3s, not ${local.platform}."
  }
}

output "account_id" {
  description = "AWS account of the environment (the stack refuses credentials of another)."
  value       = local.account_id

  precondition {
    condition     = can(regex("^[0-9]{12}$", local.account_id))
    error_message = "accountId in ${local.source_file} must be a quoted 12-digit account id."
  }
}

output "region" {
  description = "AWS region of the environment (provider, ClusterSecretStore, catalog AWS_REGION, add-ons)."
  value       = local.region

  precondition {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", local.region))
    error_message = "region in ${local.source_file} is not an AWS region name: ${local.region}."
  }
}

output "name" {
  description = "shopfloor-<env>: the cluster name and the prefix of every AWS resource name."
  value       = local.name
}

output "host" {
  description = "Public host name of the shop (ingress host, certificate, PUBLIC_API_URL)."
  value       = local.host

  precondition {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", local.host))
    error_message = "host in ${local.source_file} is not a DNS name: ${local.host}."
  }
}

output "vpc" {
  description = "VPC CIDR, zone count and the tags the AWS Load Balancer Controller finds it by (vpcTags)."
  value = {
    cidr                    = local.vpc_cidr
    availability_zone_count = local.zone_count
    tags                    = { Name = local.name }
  }

  precondition {
    condition     = can(cidrnetmask(local.vpc_cidr)) && endswith(local.vpc_cidr, "/16")
    error_message = "vpcCidr in ${local.source_file} must be a /16, not ${local.vpc_cidr}."
  }
  precondition {
    condition     = local.zone_count >= 2 && local.zone_count <= 4
    error_message = "availabilityZones in ${local.source_file} must be 2 to 4 (Multi-AZ needs two; the subnet plan has room for four)."
  }
}

output "subnets" {
  description = "Subnet CIDRs per tier, one per zone in zone order (NetworkPolicy ipBlocks: edge = public, data stores = database)."
  value       = local.subnets
}

output "internal_zone" {
  description = "Private Route 53 zone of the data stores' stable names."
  value       = local.internal
}

output "data_stores" {
  description = "Where PostgreSQL and Redis run (inCluster, rds, elasticache) and how they are reached: the chart's mode, host name, port, TLS and AUTH."
  value = {
    postgresql = {
      kind         = local.postgresql
      chart_mode   = local.postgresql == "rds" ? "externalName" : "inCluster"
      external_dns = local.postgresql == "rds" ? "postgresql.${local.internal}" : null
      port         = 5432
      tls_required = local.postgresql == "rds"
    }
    redis = {
      kind          = local.redis
      chart_mode    = local.redis == "elasticache" ? "externalName" : "inCluster"
      external_dns  = local.redis == "elasticache" ? "redis.${local.internal}" : null
      port          = 6379
      tls_required  = local.redis == "elasticache"
      auth_required = local.redis == "elasticache"
      url_scheme    = local.redis == "elasticache" ? "rediss" : "redis"
    }
  }

  precondition {
    condition     = contains(["inCluster", "rds"], local.postgresql) && contains(["inCluster", "elasticache"], local.redis)
    error_message = "postgresql in ${local.source_file} is inCluster or rds, redis is inCluster or elasticache."
  }
}

output "ports" {
  description = "Ports that cross a layer boundary (security groups, NetworkPolicies, Services)."
  value = {
    http               = 80
    https              = 443
    kubernetes_api     = 6443
    nfs                = 2049
    frontend_node_port = tonumber(local.node_port.port)
  }

  precondition {
    condition     = tonumber(local.node_port.port) >= 30000 && tonumber(local.node_port.port) <= 32767
    error_message = "frontendNodePort.port in ${local.source_file} must be in the NodePort range 30000-32767."
  }
}

output "frontend_node_port_enabled" {
  description = "The frontend NodePort is on (the chart's nodePort.enabled; K3s opens the port on the nodes)."
  value       = tobool(local.node_port.enabled)
}

output "workload_uid" {
  description = "UID and GID every Shopfloor container runs as (the charts' runAsUser; EFS access point owner)."
  value       = 10001
}

output "service_accounts" {
  description = "Kubernetes ServiceAccounts with AWS permissions: namespace, name and IAM role (name and ARN; null on K3s, where the node role acts for them)."
  value = {
    for key, workload in local.workloads : key => merge(workload, {
      role_name = local.on_eks ? "${local.name}-${key}" : null
      role_arn  = local.on_eks ? "${local.role_prefix}/${local.name}-${key}" : null
    })
  }
}

output "node_role" {
  description = "IAM role of the K3s nodes (what pods act as on K3s); null on EKS."
  value = local.on_eks ? null : {
    name = local.k3s_node_role
    arn  = "${local.role_prefix}/${local.k3s_node_role}"
  }
}

output "secret_store" {
  description = "The ClusterSecretStore: its name, region and how it authenticates (irsa: the external-secrets ServiceAccount's role; node-role: the default credential chain on K3s)."
  value = {
    name   = "aws-secrets-manager"
    region = local.region
    auth   = local.on_eks ? "irsa" : "node-role"
  }
}

output "secrets" {
  description = "Secrets Manager entries per consumer: name and the JSON properties it holds."
  value       = local.secrets
}

output "secrets_prefix" {
  description = "Every application secret of the environment is under this prefix (what External Secrets may read)."
  value       = "shopfloor/${var.environment}/"
}

output "buckets" {
  description = "S3 bucket names (the catalog's S3_BUCKET): the account id keeps them globally unique."
  value = {
    images = "${local.name}-images-${local.account_id}"
  }
}

output "efs" {
  description = "The EFS access point the catalog's images volume mounts (spec 3.5): its directory and owner."
  value = {
    catalog_images_path = "/catalog/images"
    uid                 = 10001
    gid                 = 10001
  }
}

output "edge" {
  description = "What serves the host: an ALB by the AWS Load Balancer Controller (EKS) or an NLB in front of Traefik (K3s), and who issues the TLS certificate."
  value = local.on_eks ? {
    kind         = "alb"
    ingress      = "alb"
    certificates = "acm"
    } : {
    kind         = "nlb"
    ingress      = "traefik"
    certificates = "cert-manager"
  }
}
