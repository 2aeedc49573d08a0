"""The long-running user-session agent (`trayd run`): monitor, notifications, components."""
