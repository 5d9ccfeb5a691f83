# State of the prod environment: terraform init -backend-config=../environments/prod/backend.hcl (from terraform/stack)
key = "shopfloor/prod/terraform.tfstate"
