"""contact-router: real-time skills-based routing for contact centers."""
