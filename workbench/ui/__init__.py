"""Gradio tabs of the app beyond the side-by-side compare view. Only app.py imports this (it imports gradio)."""
