"""The Telegram adapter: python-telegram-bot updates in, Bot API calls out."""
