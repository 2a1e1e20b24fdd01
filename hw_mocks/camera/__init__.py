"""A network camera speaking mjpg-streamer's HTTP interface, showing a meter's LCD (issue 18)."""
