"""`sdlab serve`: the HTTP front end, over the job queue. It takes names, never file paths."""
