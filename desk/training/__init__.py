"""The trainer's workbench: customer messages reviewed into training data, intents
and responses edited in both languages, models trained, evaluated and deployed."""
