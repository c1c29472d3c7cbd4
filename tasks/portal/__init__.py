"""The partners' and reviewers' way in: personal links, uploads, what their pages show."""
