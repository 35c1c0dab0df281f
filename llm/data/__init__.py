"""Data: the tasks' official files read offline (SciQ, SST-2, IMDB), SLURP, and the file readers."""
