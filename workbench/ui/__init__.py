"""The Gradio tabs of the app (Compare, Batch & evaluate, History). Only app.py imports this (it imports gradio)."""
