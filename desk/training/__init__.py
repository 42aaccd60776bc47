"""The trainer's workbench: trainers review real customer messages and turn them into
training data for the bot. Personal data is masked before a trainer sees a message
(`desk.training.masking`)."""
