"""The wire protocols the server speaks; each turns its own requests into rows and answers back."""
