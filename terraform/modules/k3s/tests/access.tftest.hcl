# People's access to K3s (issue 16 item 6), planned with a mock AWS provider: the server's config
# file carries the API server's OIDC flags only when an issuer is given, user data and the SSM
# association write that same file, and the variable refuses what would let an IdP name a
# Kubernetes system group or user, or map to no RBAC group at all.
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
}

run "without_an_issuer_the_api_server_trusts_no_id_token" {
  command = plan

  assert {
    condition = yamldecode(output.server_config) == {
      "secrets-encryption"      = true
      "write-kubeconfig-mode"   = "0600"
      "protect-kernel-defaults" = true
      "kubelet-arg" = [
        "image-credential-provider-config=/etc/rancher/k3s/credential-provider.yaml",
        "image-credential-provider-bin-dir=/usr/local/libexec/kubelet",
      ]
    }
    error_message = "without oidc the config has the hardening flags and no kube-apiserver-arg: ${output.server_config}"
  }
  assert {
    condition     = output.oidc_kubeconfig_user == null
    error_message = "no people's kubeconfig without an issuer"
  }
}

run "user_data_and_the_association_write_the_same_config" {
  command = plan

  variables {
    oidc = { issuer_url = "https://login.example.com/realms/shop", client_id = "shopfloor-k3s" }
  }

  assert {
    condition     = strcontains(base64decode(aws_instance.server.user_data_base64), "cat >/etc/rancher/k3s/config.yaml <<'K3S_CONFIG'\n${output.server_config}\nK3S_CONFIG\n")
    error_message = "user data writes the config file before K3s first starts"
  }
  assert {
    condition     = endswith(trimspace(base64decode(aws_instance.server.user_data_base64)), "sh -s - server")
    error_message = "the install passes no flag of its own: every server flag is in the config file"
  }
  assert {
    condition     = aws_ssm_association.server_config.name == "AWS-RunShellScript" && length(aws_ssm_association.server_config.targets) == 1 && aws_ssm_association.server_config.targets[0].key == "InstanceIds" && aws_ssm_association.server_config.targets[0].values == tolist(["i-0123456789abcdef0"])
    error_message = "the association runs on the server alone"
  }
  assert {
    condition     = strcontains(aws_ssm_association.server_config.parameters.commands, "echo '${base64encode(output.server_config)}' | base64 -d")
    error_message = "the association writes the very same config (and restarts K3s only when it changed it)"
  }
}

run "an_issuer_maps_the_idps_groups_to_the_rbac_groups" {
  command = plan

  variables {
    oidc = {
      issuer_url      = "https://login.example.com/realms/shop"
      client_id       = "shopfloor-k3s"
      required_claims = { hd = "example.com" }
      extra_scopes    = ["groups"]
    }
  }

  assert {
    condition = yamldecode(output.server_config)["kube-apiserver-arg"] == [
      "oidc-issuer-url=https://login.example.com/realms/shop",
      "oidc-client-id=shopfloor-k3s",
      "oidc-username-claim=sub",
      "oidc-username-prefix=oidc:",
      "oidc-groups-claim=groups",
      "oidc-groups-prefix=shopfloor:",
      "oidc-required-claim=hd=example.com",
    ]
    error_message = "the API server's OIDC flags: ${output.server_config}"
  }
  assert {
    condition     = yamldecode(output.server_config)["secrets-encryption"] == true
    error_message = "the hardening flags stay beside OIDC"
  }
  assert {
    condition = yamldecode(output.oidc_kubeconfig_user) == {
      name = "oidc"
      user = {
        exec = {
          apiVersion      = "client.authentication.k8s.io/v1"
          command         = "kubectl"
          args            = ["oidc-login", "get-token", "--oidc-issuer-url=https://login.example.com/realms/shop", "--oidc-client-id=shopfloor-k3s", "--oidc-extra-scope=groups"]
          interactiveMode = "IfAvailable"
        }
      }
    }
    error_message = "people's kubeconfig runs kubelogin against the same issuer and client"
  }
}

run "a_plain_http_issuer_is_refused" {
  command = plan

  variables {
    oidc = { issuer_url = "http://login.example.com", client_id = "shopfloor-k3s" }
  }

  expect_failures = [var.oidc]
}

run "an_issuer_with_a_trailing_slash_is_refused" {
  command = plan

  variables {
    oidc = { issuer_url = "https://login.example.com/", client_id = "shopfloor-k3s" }
  }

  expect_failures = [var.oidc]
}

run "a_system_groups_prefix_is_refused" {
  command = plan

  # Groups that do start with the prefix: only the system: rule can refuse this one.
  variables {
    oidc          = { issuer_url = "https://login.example.com", client_id = "shopfloor-k3s", groups_prefix = "system:" }
    access_groups = { platform_admins = "system:platform-admins", developers = "system:developers", learners = "system:learners" }
  }

  expect_failures = [var.oidc]
}

run "unprefixed_usernames_are_refused" {
  command = plan

  variables {
    oidc = { issuer_url = "https://login.example.com", client_id = "shopfloor-k3s", username_prefix = "-" }
  }

  expect_failures = [var.oidc]
}

run "a_prefix_that_reaches_no_rbac_group_is_refused" {
  command = plan

  variables {
    oidc = { issuer_url = "https://login.example.com", client_id = "shopfloor-k3s", groups_prefix = "corp:" }
  }

  expect_failures = [var.oidc]
}
