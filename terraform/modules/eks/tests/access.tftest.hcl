# People's access, planned with a mock AWS provider and the registry module stubbed (the test
# workspace, tests/terraform/terraformkit.py): platform admins alone get cluster-admin; developers
# and learners get only the Kubernetes groups argocd/security binds; the creator is not admin.
mock_provider "aws" {
  override_during = plan

  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
}

variables {
  name               = "shopfloor-prod"
  vpc_id             = "vpc-mock"
  private_subnet_ids = ["subnet-private-a", "subnet-private-b"]
  service_accounts = {
    aws-load-balancer-controller = { namespace = "kube-system", service_account = "aws-load-balancer-controller", role_name = "shopfloor-prod-aws-load-balancer-controller" }
    cluster-autoscaler           = { namespace = "kube-system", service_account = "cluster-autoscaler", role_name = "shopfloor-prod-cluster-autoscaler" }
    ebs-csi                      = { namespace = "kube-system", service_account = "ebs-csi-controller-sa", role_name = "shopfloor-prod-ebs-csi" }
    efs-csi                      = { namespace = "kube-system", service_account = "efs-csi-controller-sa", role_name = "shopfloor-prod-efs-csi" }
  }
}

run "least_privilege_access" {
  command = plan

  assert {
    condition     = output.access_entries["platform-admin-shopfloor-platform-admin"].policies == ["arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"]
    error_message = "the platform admin role is cluster admin"
  }
  assert {
    condition     = output.access_entries["platform-admin-shopfloor-platform-admin"].principal_arn == "arn:aws:iam::123456789012:role/shopfloor-platform-admin"
    error_message = "roles are of the cluster's own account"
  }
  assert {
    condition     = output.access_entries["developer-shopfloor-developer"].policies == [] && output.access_entries["developer-shopfloor-developer"].kubernetes_groups == ["shopfloor:developers"]
    error_message = "developers get their group only; RBAC gives it the app namespace"
  }
  assert {
    condition     = output.access_entries["learner-shopfloor-learner"].policies == [] && output.access_entries["learner-shopfloor-learner"].kubernetes_groups == ["shopfloor:learners"]
    error_message = "learners get their group only; RBAC gives it read access"
  }
  assert {
    condition     = length([for entry in values(output.access_entries) : entry if length(entry.policies) > 0]) == 1
    error_message = "one access policy in all: the platform admin's"
  }
}

run "no_admin_no_cluster" {
  command = plan

  variables {
    access_roles = { platform_admins = [], developers = ["shopfloor-developer"], learners = [] }
  }

  expect_failures = [var.access_roles]
}
