"""Access: the record of log-in and sign-up attempts, for admins to see who knocked and what happened."""
