"""Casework around conversations: customer 360, callbacks, follow-ups and complaints."""
