"""What texnet adds to the paper: automatic lambda, sliced-Wasserstein loss, multi-style networks, colour, seams, exemplar preparation, metrics."""
