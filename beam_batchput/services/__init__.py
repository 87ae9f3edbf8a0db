"""One module per AWS API, knowing no Beam."""
