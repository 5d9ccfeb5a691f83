# The one source of every name, address and port that one layer produces and another consumes
# (docs/cross-layer-contract.md). Decided facts come from environments/<env>/infrastructure.yaml;
# everything else is derived here by convention, once. The stack builds what these outputs name;
# the charts, the Argo CD add-ons and scripts/aws/put-secrets.sh take the same values.
locals {
  source_file = "${path.module}/../../../environments/${var.environment}/infrastructure.yaml"
  facts       = yamldecode(file(local.source_file))

  platform    = tostring(local.facts.platform)
  account_id  = tostring(local.facts.accountId)
  region      = tostring(local.facts.region)
  vpc_cidr    = tostring(local.facts.vpcCidr)
  zone_count  = tonumber(local.facts.availabilityZones)
  host        = tostring(local.facts.host)
  postgresql  = tostring(local.facts.postgresql)
  redis       = tostring(local.facts.redis)
  node_port   = local.facts.frontendNodePort
  on_eks      = local.platform == "eks"
  name        = "shopfloor-${var.environment}"
  internal    = "${var.environment}.shopfloor.internal"
  arn_prefix  = "arn:${var.partition}"
  role_prefix = "${local.arn_prefix}:iam::${local.account_id}:role"

  # /22 public, /20 database (from .64) and /20 private (from .128) subnets, one of each per zone:
  # NetworkPolicies must allow every zone's database subnet, or a Multi-AZ failover cuts pods off.
  subnets = {
    public   = [for zone in range(local.zone_count) : cidrsubnet(local.vpc_cidr, 6, zone)]
    database = [for zone in range(local.zone_count) : cidrsubnet(local.vpc_cidr, 4, 4 + zone)]
    private  = [for zone in range(local.zone_count) : cidrsubnet(local.vpc_cidr, 4, 8 + zone)]
  }

  # Kubernetes identities that get AWS permissions: an IRSA role each on EKS (role name by
  # convention), the node role on K3s (no IRSA there).
  workloads = {
    catalog                      = { namespace = "shopfloor", service_account = "catalog" }
    external-secrets             = { namespace = "external-secrets", service_account = "external-secrets" }
    aws-load-balancer-controller = { namespace = "kube-system", service_account = "aws-load-balancer-controller" }
    cluster-autoscaler           = { namespace = "kube-system", service_account = "cluster-autoscaler" }
    ebs-csi                      = { namespace = "kube-system", service_account = "ebs-csi-controller-sa" }
    efs-csi                      = { namespace = "kube-system", service_account = "efs-csi-controller-sa" }
  }
  k3s_node_role = "${local.name}-k3s-node"

  # Secrets Manager entries, each a JSON object with these properties. Terraform declares them
  # without a value; scripts/aws/put-secrets.sh fills them once. A service's database password is
  # kept once, in the postgresql secret, and read from there by the service and by the database.
  secrets = merge(
    {
      catalog    = { name = "shopfloor/${var.environment}/catalog", properties = ["ADMIN_API_KEY"] }
      orders     = { name = "shopfloor/${var.environment}/orders", properties = ["ADMIN_API_KEY"] }
      postgresql = { name = "shopfloor/${var.environment}/postgresql", properties = concat(local.postgresql == "inCluster" ? ["postgres-password"] : [], ["catalog-password", "orders-password"]) }
    },
    local.redis == "elasticache" ? {
      redis = { name = "shopfloor/${var.environment}/redis", properties = ["auth-token", "url"] }
    } : {},
  )
}
