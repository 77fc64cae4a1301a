"""Ready-made studies, analysis and plotting of stored results, and the ``synsweep`` command line."""
