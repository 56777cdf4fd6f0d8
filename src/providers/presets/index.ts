// The presets by name: what `"preset": "github"` in mcp.config.json refers to.
import type { ProviderPreset } from '../types.js';
import { atlassian } from './atlassian.js';
import { github } from './github.js';
import { google } from './google.js';
import { linear } from './linear.js';
import { microsoft } from './microsoft.js';
import { slack } from './slack.js';

export const PRESETS: Readonly<Record<string, ProviderPreset>> = {
  github,
  google,
  microsoft,
  slack,
  linear,
  atlassian,
};

export { atlassian, github, google, linear, microsoft, slack };
