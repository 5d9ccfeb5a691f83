data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # People's access (issue 16): an access entry per IAM role. Platform admins get EKS'
  # cluster-admin access policy; developers and learners only a Kubernetes group, whose rights
  # the RBAC of argocd/security gives (the same groups as on K3s, so both platforms grant alike:
  # developers edit the app namespace, learners read; neither reads Secrets nor execs).
  access_entries = merge(
    {
      for role in var.access_roles.platform_admins : "platform-admin-${role}" => {
        principal_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${role}"
        type          = "STANDARD"
        policy_associations = {
          cluster_admin = {
            policy_arn   = "arn:${data.aws_partition.current.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
            access_scope = { type = "cluster" }
          }
        }
      }
    },
    {
      for role in var.access_roles.developers : "developer-${role}" => {
        principal_arn     = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${role}"
        type              = "STANDARD"
        kubernetes_groups = [var.access_groups.developers]
      }
    },
    {
      for role in var.access_roles.learners : "learner-${role}" => {
        principal_arn     = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${role}"
        type              = "STANDARD"
        kubernetes_groups = [var.access_groups.learners]
      }
    },
  )

  accounts = {
    for key, account in var.service_accounts : key => merge(account, {
      subject = "${account.namespace}:${account.service_account}"
    })
  }
}

module "eks" {
  #checkov:skip=CKV_TF_1:Registry modules are pinned by a ~> version constraint and reviewed on each upgrade; commit hashes would stop Renovate from proposing updates.
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 20.31"

  cluster_name    = var.name
  cluster_version = var.kubernetes_version

  vpc_id     = var.vpc_id
  subnet_ids = var.private_subnet_ids

  cluster_endpoint_public_access       = length(var.api_allowed_cidrs) > 0
  cluster_endpoint_public_access_cidrs = var.api_allowed_cidrs
  cluster_endpoint_private_access      = true

  enable_irsa = true
  # Access entries only (no aws-auth ConfigMap), and nobody is admin for having created the
  # cluster: the platform admin role is (var.access_roles).
  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = false
  access_entries                           = local.access_entries

  # Envelope encryption of Secrets with a key the module creates (rotation on).
  cluster_encryption_config = {
    resources = ["secrets"]
  }

  cluster_enabled_log_types              = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cloudwatch_log_group_retention_in_days = var.log_retention_days

  cluster_addons = {
    vpc-cni = {
      most_recent    = true
      before_compute = true
      # The charts' NetworkPolicies are only enforced when the VPC CNI's policy agent is on.
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    coredns                = { most_recent = true }
    kube-proxy             = { most_recent = true }
    eks-pod-identity-agent = { most_recent = true }
    aws-ebs-csi-driver = {
      most_recent              = true
      service_account_role_arn = module.ebs_csi_irsa.iam_role_arn
    }
    aws-efs-csi-driver = {
      most_recent              = true
      service_account_role_arn = module.efs_csi_irsa.iam_role_arn
    }
  }

  eks_managed_node_groups = {
    default = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.node_instance_types
      min_size       = var.node_min_size
      max_size       = var.node_max_size
      desired_size   = var.node_min_size

      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }

      # cluster-autoscaler finds the group by these tags.
      tags = {
        "k8s.io/cluster-autoscaler/enabled"     = "true"
        "k8s.io/cluster-autoscaler/${var.name}" = "owned"
      }
    }
  }
}

module "load_balancer_controller_irsa" {
  #checkov:skip=CKV_TF_1:Registry modules are pinned by a ~> version constraint and reviewed on each upgrade; commit hashes would stop Renovate from proposing updates.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.52"

  role_name                              = local.accounts["aws-load-balancer-controller"].role_name
  attach_load_balancer_controller_policy = true

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = [local.accounts["aws-load-balancer-controller"].subject]
    }
  }
}

module "cluster_autoscaler_irsa" {
  #checkov:skip=CKV_TF_1:Registry modules are pinned by a ~> version constraint and reviewed on each upgrade; commit hashes would stop Renovate from proposing updates.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.52"

  role_name                        = local.accounts["cluster-autoscaler"].role_name
  attach_cluster_autoscaler_policy = true
  cluster_autoscaler_cluster_names = [var.name]

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = [local.accounts["cluster-autoscaler"].subject]
    }
  }
}

module "ebs_csi_irsa" {
  #checkov:skip=CKV_TF_1:Registry modules are pinned by a ~> version constraint and reviewed on each upgrade; commit hashes would stop Renovate from proposing updates.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.52"

  role_name             = local.accounts["ebs-csi"].role_name
  attach_ebs_csi_policy = true

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = [local.accounts["ebs-csi"].subject]
    }
  }
}

module "efs_csi_irsa" {
  #checkov:skip=CKV_TF_1:Registry modules are pinned by a ~> version constraint and reviewed on each upgrade; commit hashes would stop Renovate from proposing updates.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.52"

  role_name             = local.accounts["efs-csi"].role_name
  attach_efs_csi_policy = true

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = [local.accounts["efs-csi"].subject]
    }
  }
}

# Workloads' roles (the catalog's images bucket, External Secrets' secrets): each trusts its one
# ServiceAccount and carries only the policies given for it.
module "service_irsa" {
  #checkov:skip=CKV_TF_1:Registry modules are pinned by a ~> version constraint and reviewed on each upgrade; commit hashes would stop Renovate from proposing updates.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.52"

  for_each = var.service_account_policy_arns

  role_name        = local.accounts[each.key].role_name
  role_policy_arns = { for index, arn in each.value : tostring(index) => arn }

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = [local.accounts[each.key].subject]
    }
  }
}
