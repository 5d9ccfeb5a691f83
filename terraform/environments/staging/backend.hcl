# State of the staging environment: terraform init -backend-config=../environments/staging/backend.hcl (from terraform/stack)
key = "shopfloor/staging/terraform.tfstate"
