"""The pipeline: authenticate -> resolve credential -> upstream -> meter -> record -> respond."""
