output "cluster_security_group_id" {
  description = "Security group of every node; the data stores admit it."
  value       = aws_security_group.nodes.id
}

output "server_instance_id" {
  description = "Instance ID of the K3s server (for SSM sessions)."
  value       = aws_instance.server.id
}

output "server_private_ip" {
  description = "Private IP of the K3s server (the API endpoint)."
  value       = aws_instance.server.private_ip
}

output "node_role_arn" {
  description = "IAM role of the nodes."
  value       = aws_iam_role.node.arn
}

output "kubeconfig_command" {
  description = "Command that prints the cluster's kubeconfig through SSM (replace 127.0.0.1 with the server IP)."
  value       = "aws ssm start-session --target ${aws_instance.server.id} --document-name AWS-StartInteractiveCommand --parameters command='sudo cat /etc/rancher/k3s/k3s.yaml'"
}

output "node_role_name" {
  description = "IAM role name of the nodes."
  value       = aws_iam_role.node.name
}

output "edge_dns_name" {
  description = "DNS name of the public NLB in front of Traefik: point the shop's host at it (CNAME, or a Route 53 alias with edge_zone_id)."
  value       = aws_lb.edge.dns_name
}

output "edge_zone_id" {
  description = "Route 53 zone of the NLB, for an alias record."
  value       = aws_lb.edge.zone_id
}

output "server_config" {
  description = "The K3s server's /etc/rancher/k3s/config.yaml (no secret: the join token comes from SSM at boot)."
  value       = local.server_config
}

output "ca_certificate_command" {
  description = "Command that prints the cluster's CA certificate through SSM (public: it goes into people's kubeconfig beside oidc_kubeconfig_user)."
  value       = "aws ssm start-session --target ${aws_instance.server.id} --document-name AWS-StartInteractiveCommand --parameters command='sudo cat /var/lib/rancher/k3s/server/tls/server-ca.crt'"
}

output "oidc_kubeconfig_user" {
  description = "The kubeconfig user for people (kubelogin as kubectl's credential plugin), or null without oidc."
  value = var.oidc == null ? null : yamlencode({
    name = "oidc"
    user = {
      exec = {
        apiVersion = "client.authentication.k8s.io/v1"
        command    = "kubectl"
        args = concat(
          ["oidc-login", "get-token", "--oidc-issuer-url=${var.oidc.issuer_url}", "--oidc-client-id=${var.oidc.client_id}"],
          [for scope in var.oidc.extra_scopes : "--oidc-extra-scope=${scope}"],
        )
        interactiveMode = "IfAvailable"
      }
    }
  })
}
