terraform {
  required_version = "~> 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # S3 native locking (use_lockfile, Terraform >= 1.10). The state key is the environment's
  # (environments/<env>/backend.hcl); the state bucket and its region are given at init:
  #   terraform init -reconfigure -backend-config=../environments/<env>/backend.hcl \
  #     -backend-config="bucket=<state bucket>" -backend-config="region=<region>"
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}

# The region is the environment's (environments/<env>/infrastructure.yaml, through the contract):
# the same value the ClusterSecretStore, the add-ons and the catalog are given.
provider "aws" {
  region = module.contract.region

  default_tags {
    tags = {
      Project     = "shopfloor"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
