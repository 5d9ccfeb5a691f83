terraform {
  required_version = "~> 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.83"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }

  # S3 native locking (use_lockfile, Terraform >= 1.10). The state key is the environment's
  # (environments/<env>/backend.hcl); bucket and region are not written anywhere:
  #   terraform init -reconfigure -backend-config=../environments/<env>/backend.hcl \
  #     -backend-config="bucket=<state bucket>" -backend-config="region=<region>"
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "shopfloor"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
