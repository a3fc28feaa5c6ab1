"""Speaking the FinSpace Managed kdb API: the shipped model, boto3 clients, request rules."""
