"""Board constraint files (data): this file makes them installable package data."""
