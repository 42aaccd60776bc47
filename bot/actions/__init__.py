"""Custom actions, served by rasa-sdk's action server in the app environment:

    python -m rasa_sdk --actions bot.actions

rasa-sdk imports every module of this package and registers its actions.
"""
