"""The modern PyTorch port of AlexNet (the network of the 2012 paper, exactly)."""
