output "vpc_id" {
  description = "ID of the VPC."
  value       = module.vpc.vpc_id
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  value       = module.vpc.vpc_cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (load balancers, NAT gateways)."
  value       = module.vpc.public_subnets
}

output "private_subnet_ids" {
  description = "Private subnets (cluster nodes, EFS mount targets)."
  value       = module.vpc.private_subnets
}

output "database_subnet_ids" {
  description = "Database subnets (RDS, ElastiCache)."
  value       = module.vpc.database_subnets
}

output "database_subnet_group_name" {
  description = "RDS subnet group over the database subnets."
  value       = module.vpc.database_subnet_group_name
}

output "internal_zone_id" {
  description = "ID of the private Route 53 zone for the data stores' DNS names."
  value       = aws_route53_zone.internal.zone_id
}

output "internal_zone_name" {
  description = "Name of the private Route 53 zone."
  value       = aws_route53_zone.internal.name
}
